// The files the compiled service reads besides its JavaScript: the migrations and the example price
// catalogue. `npm run build` and the tests' own builds both copy them with this, into the output folder.
import { copyFileSync, cpSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

export function copyAssets (outDir) {
  cpSync(join(root, 'db/migrations'), join(outDir, 'db/migrations'), { recursive: true })
  copyFileSync(join(root, 'catalog.example.json'), join(outDir, 'catalog.example.json'))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) copyAssets(process.argv[2] ?? join(root, 'dist'))
