/**
 * Make a half-written markdown block render the way it will look once complete, so streaming text
 * does not jump: close open emphasis/code spans, show a half-written link as its text, hide a
 * half-written image, and hold back display math until its closing delimiter arrives.
 * Only used on the last block while an answer is streaming.
 */

const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/

function insideOpenFence(src: string): boolean {
  let open: string | null = null
  for (const line of src.split('\n')) {
    const m = FENCE_LINE.exec(line)
    if (!m) continue
    const marker = m[1]
    if (open === null) open = marker
    else if (marker[0] === open[0] && marker.length >= open.length && line.trim() === marker) open = null
  }
  return open !== null
}

function countUnescaped(text: string, marker: string): number {
  let n = 0
  for (let i = text.indexOf(marker); i >= 0; i = text.indexOf(marker, i + marker.length)) {
    if (text[i - 1] !== '\\') n++
  }
  return n
}

/** Remove inline code spans so their contents do not count as emphasis markers. */
function withoutCode(text: string): string {
  return text.replace(/`[^`\n]*`/g, '')
}

function closeInline(src: string): string {
  let out = src
  // Dangling markers at the very end ("Hello **") just wait for their text.
  out = out.replace(/(\*{1,3}|_{1,3}|~{1,2}|`)\s*$/, (m, _g, offset: number) => {
    const before = out.slice(0, offset)
    // a list bullet at the start of a line is not emphasis
    return /(^|\n)\s*$/.test(before) && m.trim() === '*' ? m : ''
  })
  // A half-written image is hidden until complete; a half-written link shows its text.
  out = out.replace(/!\[[^\]\n]*(\]\([^)\n]*)?$/, '')
  out = out.replace(/\[([^\]\n]*)\]\([^)\s]*$/, '[$1](#)')
  out = out.replace(/\[([^\]\n]*)\]$/, '$1')
  out = out.replace(/(^|[^\\!])\[([^\]\n]*)$/, '$1$2')

  const paragraph = out.slice(out.lastIndexOf('\n\n') + 1)
  if (countUnescaped(paragraph, '`') % 2 === 1) return `${out}\``
  const plain = withoutCode(paragraph)
  let closing = ''
  if (countUnescaped(plain, '~~') % 2 === 1) closing = `~~${closing}`
  const strong = countUnescaped(plain, '**')
  const singles = countUnescaped(plain.replace(/\*\*/g, '').replace(/(^|\n)\s*\*\s/g, '$1'), '*')
  if (strong % 2 === 1) closing = `**${closing}`
  if (singles % 2 === 1) closing = `*${closing}`
  if (countUnescaped(plain, '__') % 2 === 1) closing = `__${closing}`
  return closing ? `${out.replace(/\s+$/, '')}${closing}` : out
}

function holdBackDisplayMath(src: string): string {
  const dollars = countUnescaped(src, '$$')
  if (dollars % 2 === 1) return src.slice(0, src.lastIndexOf('$$')).replace(/\s+$/, '')
  const open = src.lastIndexOf('\\[')
  if (open >= 0 && src.indexOf('\\]', open) < 0) return src.slice(0, open).replace(/\s+$/, '')
  const openInline = src.lastIndexOf('\\(')
  if (openInline >= 0 && src.indexOf('\\)', openInline) < 0) return src.slice(0, openInline).replace(/\s+$/, '')
  return src
}

const TABLE_LINE = /^\s*\|/
const DELIMITER_ROW = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?\s*$/

/** A table whose delimiter row has not fully arrived would show as raw pipes, then jump. */
function holdBackTableHeader(block: string): string {
  const lines = block.split('\n')
  let start = lines.length
  while (start > 0 && TABLE_LINE.test(lines[start - 1])) start--
  const run = lines.slice(start)
  if (!run.length) return block
  const complete = run.length > 2 || (run.length === 2 && DELIMITER_ROW.test(run[1]) && run[1].trim().endsWith('|'))
  return complete ? block : lines.slice(0, start).join('\n').replace(/\s+$/, '')
}

export function repairStreaming(block: string): string {
  if (insideOpenFence(block)) return block
  block = holdBackTableHeader(block)
  if (/(^|\n) {0,3}(`{1,2}|~{1,2})$/.test(block)) return block.replace(/(`{1,2}|~{1,2})$/, '')
  return closeInline(holdBackDisplayMath(block))
}
