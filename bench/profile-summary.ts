/**
 * `node --import tsx bench/profile-summary.ts <dir-or-.cpuprofile>… [--top N] [--skip S]`: the top self-time frames of V8 CPU
 * profiles (as written by `BENCH_CPU_PROF=<dir> pnpm bench`, one sub-directory per service), summed by function and
 * file, plus the same summed by package (node_modules/<pkg>, node: internals, the repo's own code).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}
interface Profile {
  nodes: Node[]
  samples: number[]
  timeDeltas: number[]
}

const args = process.argv.slice(2)
const topAt = args.indexOf('--top')
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25
// --skip S: leave out the first S seconds of each profile (the service's start: tsx compiling, modules loading).
const skipAt = args.indexOf('--skip')
const skipUs = skipAt >= 0 ? Number(args.splice(skipAt, 2)[1]) * 1e6 : 0
const walk = (p: string): string[] =>
  statSync(p).isDirectory() ? readdirSync(p).flatMap((f) => walk(join(p, f))) : p.endsWith('.cpuprofile') ? [p] : []
const files = args.flatMap((p) => walk(p))

const shortUrl = (url: string) => {
  const u = url.replace(/^file:\/\//, '')
  const nm = u.lastIndexOf('node_modules/')
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '')
  return u.startsWith('/') ? relative(process.cwd(), u) : u
}
const packageOf = (url: string) => {
  if (!url) return '(native / gc / idle)'
  if (url.startsWith('node:')) return 'node: internals'
  const s = shortUrl(url)
  if (url.includes('node_modules/')) return s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!
  return s.split('/').slice(0, 3).join('/')
}

for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  let t = 0
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0
    if (t >= skipUs) self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0))
  })
  let total = 0
  let idle = 0
  const frames = new Map<string, number>()
  const pkgs = new Map<string, number>()
  for (const [id, us] of self) {
    const n = byId.get(id)!
    const { functionName, url, lineNumber } = n.callFrame
    total += us
    if (functionName === '(idle)') {
      idle += us
      continue
    }
    const key = `${functionName || '(anonymous)'}  ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`
    frames.set(key, (frames.get(key) ?? 0) + us)
    const pkg = functionName.startsWith('(') ? functionName : packageOf(url)
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us)
  }
  const busy = total - idle
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`
  console.log(
    `\n## ${relative(process.cwd(), file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (shares of busy)`,
  )
  console.log('top frames by self time:')
  for (const [k, us] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`)
  console.log('by package:')
  for (const [k, us] of [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(us)}  ${k}`)
}
