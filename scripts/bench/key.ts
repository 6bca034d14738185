/** The API key the bench upstream accepts and every proxy under test injects. */
export const BENCH_KEY = 'bench-key-0123456789';
