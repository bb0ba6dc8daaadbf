/** What `pnpm bench` and `pnpm bench:growth` share: where results go, how figures and chart labels are written. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '@paysys/devkit'

export const outDir = join(REPO_ROOT, 'bench-output')
mkdirSync(outDir, { recursive: true })

/** A figure for a table: whole numbers from 100 up, one decimal below. */
export const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))

/** Text for an SVG label. */
export const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
