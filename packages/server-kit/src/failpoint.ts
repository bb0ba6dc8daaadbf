/**
 * Failpoints for the crash suite (test/chaos/crash.test.ts): `PAYSYS_FAILPOINTS=name[,name…]` with
 * `PAYSYS_FAILPOINTS_DIR=<folder>` makes the process SIGKILL itself at
 * the named point, once: the first hit creates `<folder>/<name>.hit` (exclusively, so once across
 * restarts and instances), writes its pid there, prints `FAILPOINT <name> hit pid=<pid>` to stderr and dies at once, with
 * no cleanup and no commit. Without the env var (production, every other test) `failpoint()` does nothing.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'

const armed = new Set(
  (process.env.PAYSYS_FAILPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
)
const dir = process.env.PAYSYS_FAILPOINTS_DIR

export function failpoint(name: string): void {
  if (!armed.has(name) || !dir) return
  let fd: number
  try {
    fd = openSync(join(dir, `${name}.hit`), 'wx')
  } catch {
    return // hit before (by this or another process): passes from now on
  }
  writeSync(fd, `${process.pid}\n`)
  closeSync(fd)
  writeSync(2, `FAILPOINT ${name} hit pid=${process.pid}\n`)
  // SIGKILL, not process.exit: exit handlers (a logger's flush) could delay or refuse the death.
  process.kill(process.pid, 'SIGKILL')
}
