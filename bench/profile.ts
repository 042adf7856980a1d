// Summarises a V8 .cpuprofile (from `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" npm run bench -- --only unique`):
// `node --import tsx bench/profile.ts DIR/CPU.*.cpuprofile [--top 30] [--match name,name]`.
// Prints self time by function and by package, inclusive time of the functions named in --match, and the
// call paths (--depth frames up) that lead to the functions named in --callers.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

const { values: args, positionals } = parseArgs({
  options: { top: { type: 'string', default: '30' }, match: { type: 'string' }, callers: { type: 'string' }, depth: { type: 'string', default: '4' } },
  allowPositionals: true
})
const file = positionals[0]
if (file === undefined) throw new Error('usage: profile.ts <file.cpuprofile> [--top N] [--match a,b]')
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile

const byId = new Map<number, ProfileNode>()
const parent = new Map<number, number>()
for (const node of profile.nodes) {
  byId.set(node.id, node)
  for (const child of node.children ?? []) parent.set(child, node.id)
}

const where = (url: string): string => {
  if (url === '') return '(native/v8)'
  if (url.startsWith('node:')) return 'node core'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg?.[1] !== undefined) return pkg[1]
  const ours = /\/dist\/(.*)$/.exec(url)
  return ours?.[1] !== undefined ? `ours: ${ours[1]}` : url
}
const shortUrl = (url: string): string => url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')
const keyOf = (frame: CallFrame): string =>
  `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`

const self = new Map<string, number>()
const selfByPackage = new Map<string, number>()
const inclusive = new Map<string, number>()
const matches = args.match?.split(',') ?? []
const callerTargets = new Set(args.callers?.split(',') ?? [])
const callerPaths = new Map<string, number>()
let total = 0
let idle = 0
for (let i = 0; i < profile.samples.length; i++) {
  const delta = profile.timeDeltas[i] ?? 0
  const node = byId.get(profile.samples[i] ?? -1)
  if (node === undefined) continue
  if (node.callFrame.functionName === '(idle)') { idle += delta; continue }
  total += delta
  const key = keyOf(node.callFrame)
  self.set(key, (self.get(key) ?? 0) + delta)
  const pkg = node.callFrame.functionName.startsWith('(') ? node.callFrame.functionName : where(node.callFrame.url)
  selfByPackage.set(pkg, (selfByPackage.get(pkg) ?? 0) + delta)
  if (callerTargets.has(node.callFrame.functionName)) {
    const path: string[] = []
    for (let id = parent.get(node.id); id !== undefined && path.length < Number(args.depth); id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame
      if (frame !== undefined) path.push(keyOf(frame).replace(/ .*\//, ' '))
    }
    const key = `${node.callFrame.functionName} <- ${path.join(' <- ')}`
    callerPaths.set(key, (callerPaths.get(key) ?? 0) + delta)
  }
  if (matches.length > 0) {
    // Count each matched function once per sample, however deep the recursion.
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame
      if (frame === undefined) break
      for (const m of matches) if (frame.functionName === m) seen.add(m)
    }
    for (const m of seen) inclusive.set(m, (inclusive.get(m) ?? 0) + delta)
  }
}

const ms = (us: number): string => (us / 1000).toFixed(0).padStart(7)
const pct = (us: number): string => `${(100 * us / total).toFixed(1).padStart(5)} %`
const top = Number(args.top)
console.log(`busy ${ms(total)} ms, idle ${ms(idle)} ms (${(100 * total / (total + idle)).toFixed(0)} % busy)\n`)
console.log('self time by package')
for (const [name, us] of [...selfByPackage].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)} ${ms(us)} ms  ${name}`)
console.log('\nself time by function')
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)} ${ms(us)} ms  ${name}`)
if (matches.length > 0) {
  console.log('\ninclusive time')
  for (const m of matches) console.log(`${pct(inclusive.get(m) ?? 0)} ${ms(inclusive.get(m) ?? 0)} ms  ${m}`)
}
if (callerTargets.size > 0) {
  console.log('\ncall paths')
  for (const [path, us] of [...callerPaths].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)} ${ms(us)} ms  ${path}`)
}
