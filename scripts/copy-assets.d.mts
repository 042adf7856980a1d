/** Copies the migrations and the example price catalogue into a build's output folder. */
export function copyAssets (outDir: string): void
