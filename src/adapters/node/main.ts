/**
 * `npm start`: the self-hosted server. The hooks must be in place before the engine loads, and
 * static imports are evaluated first, so the server comes in through a dynamic import.
 */
import './hooks.ts';
import { runWithYoungGenerationCap } from './young-generation.ts';

runWithYoungGenerationCap();

const { startFromEnvironment } = await import('./server.ts');
await startFromEnvironment(process.env);
