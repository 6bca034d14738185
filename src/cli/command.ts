/** One `key2oauth` command: what `main.ts` lists, shows and runs. */
export interface Command {
  /** The whole `--help` text: usage, options, the environment it reads, exit codes. */
  help: string;
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}
