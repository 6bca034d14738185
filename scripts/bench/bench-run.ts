/** What every mode of the bench (node-run.ts, worker-run.ts) is handed by main.ts. */
export interface BenchRun {
  rounds: number;
  quick: boolean;
  /** Measured seconds of each closed-loop run. */
  seconds: number;
  json: boolean;
  /** Progress and the table (stderr under --json, so stdout stays one JSON document). */
  log(line: string): void;
}
