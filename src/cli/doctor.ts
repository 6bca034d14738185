import type { Command } from './command.ts';
import { diagnose, type Step } from './doctor-checks.ts';

export const command: Command = {
  help: `Usage: key2oauth doctor <endpoint-url> [--api-key KEY | --credential VALUE…] [--json]

Walks the path MCP clients take against a deployment, through the URL you give them, and says
what is wrong and how to fix it: the 401 challenge, PUBLIC_URL, the resource and authorization
server metadata (by the challenge and by the well-known URLs), CORS for browser clients,
registration as Claude, ChatGPT and Cursor register, the authorization page, and whether
something in front of the server buffers streams.

  --api-key KEY   also sign in with this key (the consent form is posted for you), list the
                  upstream server's tools, then revoke the authorization it made (the clients
                  it registered stay: the server offers no way to delete a registration)
  --credential VALUE
                  for an endpoint whose credential has several fields (docs/credentials.md):
                  one per field, in the order the authorization page asks for them; signs in
                  as --api-key does

It stops where the server names an issuer or OAuth endpoint on another origin than the
endpoint's own, and sends nothing there.
  --json          print the steps as JSON

Exit codes: 0 everything works, 1 a problem was found, 2 the command line was wrong.`,
  async run(args) {
    let endpoint: string | undefined;
    let apiKey: string | undefined;
    const credentials: string[] = [];
    let json = false;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      if (arg === '--json') json = true;
      else if (arg === '--api-key') {
        apiKey = args[++i];
        if (!apiKey) return usage('--api-key needs a value');
      } else if (arg.startsWith('--api-key=')) apiKey = arg.slice('--api-key='.length);
      else if (arg === '--credential') {
        const value = args[++i];
        if (!value) return usage('--credential needs a value');
        credentials.push(value);
      } else if (arg.startsWith('--credential=')) credentials.push(arg.slice('--credential='.length));
      else if (arg.startsWith('-')) return usage(`unknown option ${arg}`);
      else if (endpoint) return usage(`one endpoint URL at a time (got ${endpoint} and ${arg})`);
      else endpoint = arg;
    }
    if (!endpoint) return usage('the endpoint URL is missing');
    if (apiKey && credentials.length > 0) return usage('give --api-key or --credential, not both');
    const values = apiKey ? [apiKey] : credentials;
    const steps = await diagnose({ endpoint, ...(values.length > 0 ? { credentials: values } : {}) });
    const ok = steps.every((step) => step.ok);
    process.stdout.write(json ? `${JSON.stringify({ ok, endpoint, steps }, null, 2)}\n` : report(steps, ok));
    return ok ? 0 : 1;
  },
};

function usage(problem: string): number {
  process.stderr.write(
    `key2oauth doctor: ${problem}\nUsage: key2oauth doctor <endpoint-url> [--api-key KEY | --credential VALUE…] [--json]\n`,
  );
  return 2;
}

function report(steps: Step[], ok: boolean): string {
  const lines = steps.map((step) => `${step.ok ? '✔' : '✖'} ${step.name}: ${step.detail}${step.fix ? `\n    fix: ${step.fix}` : ''}`);
  lines.push('', ok ? 'Everything a client needs works.' : `${steps.filter((step) => !step.ok).length} problem(s) found.`);
  return `${lines.join('\n')}\n`;
}
