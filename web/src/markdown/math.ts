/**
 * KaTeX through @vscode/markdown-it-katex (`$…$`, `$$…$$`) plus inline rules for the LaTeX
 * delimiters models also emit: `\(…\)` and `\[…\]`. `trust: false` and bounded expansion/size
 * keep \href, \includegraphics and macro bombs inert.
 */
import katexPlugin from '@vscode/markdown-it-katex'
import katex from 'katex'
import type { MarkdownIt, StateInline } from 'markdown-it'

export const KATEX_OPTIONS = {
  trust: false,
  maxExpand: 500,
  maxSize: 20,
  strict: 'ignore' as const,
  throwOnError: false,
  output: 'htmlAndMathml' as const,
}

function latexDelimiters(open: string, close: string, tokenType: string) {
  return (state: StateInline, silent: boolean): boolean => {
    if (!state.src.startsWith(open, state.pos)) return false
    const start = state.pos + open.length
    const end = state.src.indexOf(close, start)
    if (end < 0 || end === start) return false
    if (!silent) {
      const token = state.push(tokenType, 'math', 0)
      token.markup = open
      token.content = state.src.slice(start, end)
    }
    state.pos = end + close.length
    return true
  }
}

// A CommonJS module with `exports.default`: bundlers disagree on what its default import is.
const katexMarkdown = (katexPlugin as unknown as { default?: typeof katexPlugin }).default ?? katexPlugin

export function mathPlugin(md: MarkdownIt): void {
  md.use(katexMarkdown, { katex: katex as never, ...KATEX_OPTIONS })
  // Before "escape", which would otherwise turn "\(" into "(".
  md.inline.ruler.before('escape', 'math_paren', latexDelimiters('\\(', '\\)', 'math_inline'))
  md.inline.ruler.before('escape', 'math_bracket', latexDelimiters('\\[', '\\]', 'math_inline_block'))
}
