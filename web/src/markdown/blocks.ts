/**
 * Split markdown into its top-level blocks (paragraph, list, fence, table, math…) so that a
 * streaming answer re-renders only the block being written. Reference definitions are collected
 * from the whole document and handed to every block.
 */
import type { Env, MarkdownIt } from 'markdown-it'

export type References = NonNullable<Env['references']>

export interface Blocks {
  blocks: string[]
  references: References
}

export function splitBlocks(md: MarkdownIt, src: string): Blocks {
  const env: Env = {}
  const tokens = md.parse(src, env)
  const lines = src.split('\n')
  const blocks: string[] = []
  let depth = 0
  let start = -1
  let end = -1
  for (const token of tokens) {
    if (depth === 0 && token.map) {
      start = token.map[0]
      end = token.map[1]
    }
    if (token.nesting === 1) depth++
    else if (token.nesting === -1) depth--
    if (depth === 0 && start >= 0) {
      blocks.push(lines.slice(start, end).join('\n'))
      start = -1
    }
  }
  return { blocks, references: env.references ?? {} }
}
