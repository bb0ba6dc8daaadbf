/**
 * No provider is named in the sandbox's shared code: a provider's name (or what its pages call it)
 * appears only in its own folder `src/<name>/` and in the registry `src/providers.ts`. The names
 * come from the registry, so a new provider is checked too. The scanner is first shown to catch a
 * name planted in a copy of the shared files.
 */
import t from 'tap'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SANDBOX_PROVIDERS } from '../src/providers.ts'

const SRC = fileURLToPath(new URL('../src', import.meta.url))
const REGISTRY = 'providers.ts'
const folders: string[] = SANDBOX_PROVIDERS.map((p) => p.name)

/**
 * A name, case-insensitive, not inside a longer word's tail ("prepay" does not name "epay"); and the title,
 * unless it is the name itself in other letters (Stripe), which the name's pattern already finds.
 */
const patterns = SANDBOX_PROVIDERS.flatMap((p) => [
  { word: p.name, re: new RegExp(`(?<![a-z])${p.name}`, 'i') },
  ...(p.title.toLowerCase() === p.name ? [] : [{ word: p.title, re: new RegExp(p.title) }]),
])

function sharedFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .filter((f) => f !== REGISTRY && !folders.includes(f.split(sep)[0]!))
}

function hits(root: string): string[] {
  const out: string[] = []
  for (const file of sharedFiles(root)) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const { word, re } of patterns) if (re.test(line)) out.push(`${file}:${i + 1} names ${word}: ${line.trim()}`)
      })
  }
  return out
}

t.test('the scanner catches a planted name', async (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'sandbox-names-'))
  t.teardown(() => rmSync(copy, { recursive: true, force: true }))
  cpSync(SRC, copy, { recursive: true })
  t.ok(sharedFiles(copy).length >= 10, 'the shared files are read')
  for (const { word } of patterns) {
    writeFileSync(join(copy, 'planted.ts'), `export const planted = { fee: 1 } // ${word.toUpperCase()} only\n`)
    t.match(hits(copy), [new RegExp(`^planted\\.ts:1 names ${word}`)], `a planted ${word} is found`)
  }
  writeFileSync(join(copy, 'planted.ts'), 'export const prepayId = "wx_prepay"\n')
  t.same(
    hits(copy).filter((h) => h.startsWith('planted.ts')),
    [],
    'a name inside a longer word is not one',
  )
  // Outside the provider folders and the registry only.
  writeFileSync(join(copy, folders[0]!, 'planted.ts'), `export const x = '${folders[0]}'\n`)
  t.same(
    hits(copy).filter((h) => h.includes('planted')),
    [],
    'a provider folder may name its provider',
  )
})

t.test('no provider name in the shared code', async (t) => {
  t.ok(folders.length >= 3, `providers read from the registry: ${folders.join(', ')}`)
  t.same(hits(SRC), [], `shared files checked: ${sharedFiles(SRC).length}`)
})
