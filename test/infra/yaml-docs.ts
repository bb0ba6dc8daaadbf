/** YAML loading shared by the manifest checks: every document, and the same meaning under YAML 1.1 and 1.2. */
import { isDeepStrictEqual } from 'node:util'
import { parseAllDocuments } from 'yaml'

export type Doc = Record<string, unknown>

/**
 * Parses every document of a (multi-document) YAML text. kubectl and Compose read YAML with Go parsers
 * that follow YAML 1.1 in places (`0440` is octal, `yes` is true), so a value that means something else
 * under 1.2 is reported rather than guessed.
 */
export function parseYamlDocs(text: string, where: string): { docs: Doc[]; problems: string[] } {
  const problems: string[] = []
  const read = (version: '1.1' | '1.2') =>
    parseAllDocuments(text, { version, uniqueKeys: true, prettyErrors: false }).flatMap((d) => {
      for (const e of [...d.errors, ...d.warnings]) problems.push(`${where}: ${e.message}`)
      const js = d.toJS() as unknown
      return js === null || js === undefined ? [] : [js as Doc]
    })
  const docs = read('1.2')
  const docs11 = read('1.1')
  if (!problems.length && !isDeepStrictEqual(docs, docs11)) {
    problems.push(`${where}: reads differently under YAML 1.1 and 1.2 (quote ambiguous scalars such as 0440, yes, on)`)
  }
  for (const d of docs) if (typeof d !== 'object' || Array.isArray(d)) problems.push(`${where}: a document is not a mapping`)
  return { docs, problems: [...new Set(problems)] }
}
