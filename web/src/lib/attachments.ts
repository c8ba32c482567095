/** Pure helpers for attached files and an answer's tool calls (unit-tested; no DOM needed but DataTransfer's shape). */
import type { MessagePart, ToolCallPart } from '@/api/types'

/** Files per message when the server does not say (its `attachments_per_message` default). */
export const MAX_FILES_PER_MESSAGE = 10

/** "812 B", "48.2 kB", "3.1 MB" in the reader's language. */
export function formatBytes(bytes: number, locale: string): string {
  const [value, unit] =
    bytes < 1000 ? [bytes, 'byte'] : bytes < 1_000_000 ? [bytes / 1000, 'kilobyte'] : [bytes / 1_000_000, 'megabyte']
  try {
    return new Intl.NumberFormat(locale, {
      style: 'unit',
      unit,
      unitDisplay: 'short',
      maximumFractionDigits: unit === 'byte' ? 0 : 1,
    }).format(value)
  } catch {
    return `${Math.round(value * 10) / 10} ${unit === 'byte' ? 'B' : unit === 'kilobyte' ? 'kB' : 'MB'}`
  }
}

/** The kind of DataTransfer a paste or a drop carries (only what is read here). */
export interface FileCarrier {
  files?: ArrayLike<File> | null
  items?: ArrayLike<{ kind: string; type: string; getAsFile(): File | null }> | null
  types?: ArrayLike<string> | readonly string[]
}

/** The files in a drop or a paste, in order (items first: a pasted screenshot is only an item in some browsers). */
export function filesIn(carrier: FileCarrier | null | undefined): File[] {
  if (!carrier) return []
  const out: File[] = []
  const items = carrier.items ? Array.from(carrier.items) : []
  for (const item of items) {
    if (item.kind !== 'file') continue
    const file = item.getAsFile()
    if (file) out.push(file)
  }
  if (!out.length && carrier.files) out.push(...Array.from(carrier.files))
  return out
}

/** Whether a drag carries files (not text or a link being dragged about). */
export function carriesFiles(carrier: FileCarrier | null | undefined): boolean {
  return Boolean(carrier?.types && Array.from(carrier.types).includes('Files'))
}

/**
 * What a paste should do: attach its files when it carries files and no text (a screenshot);
 * anything with text in it (a cell copied from a spreadsheet comes with a picture of itself)
 * pastes as text.
 */
export function pastedFiles(carrier: (FileCarrier & { getData?(type: string): string }) | null | undefined): File[] {
  if (!carrier) return []
  const types = carrier.types ? Array.from(carrier.types) : []
  if (types.includes('text/plain') && (carrier.getData?.('text/plain') ?? '').length > 0) return []
  return filesIn(carrier)
}

/** A name for a file that came without one (some browsers paste screenshots nameless). */
export function nameFor(file: File, now = new Date()): string {
  if (file.name) return file.name
  const ext = file.type.startsWith('image/') ? file.type.slice(6).replace('jpeg', 'jpg').replace(/\+.*$/, '') : 'bin'
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')
  return `pasted-${stamp}.${ext}`
}

export function isToolCall(part: MessagePart): part is ToolCallPart {
  return part.type === 'tool_call' && typeof (part as ToolCallPart).name === 'string'
}

/** A call's arguments as indented JSON, or as written when they are not JSON (a call cut off mid-stream). */
export function formatArguments(text: string): string {
  if (!text.trim()) return '{}'
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}

/** A streamed piece of a function call (the `tool_call` event). */
export interface ToolCallPiece {
  index: number
  id: string | null
  name: string | null
  arguments: string
}

/**
 * Add a streamed piece to an answer's parts (in place): the first piece of an index names the
 * call, later ones add to its arguments. Calls stay in index order after any other parts.
 */
export function addToolCallPiece(parts: MessagePart[], piece: ToolCallPiece): void {
  const calls = parts.filter(isToolCall) as (ToolCallPart & { index?: number })[]
  let call = calls.find((c) => c.index === piece.index)
  if (!call) {
    call = { type: 'tool_call', id: '', name: '', arguments: '', index: piece.index }
    const higher = calls.find((c) => (c.index ?? 0) > piece.index)
    parts.splice(higher ? parts.indexOf(higher) : parts.length, 0, call)
  }
  if (piece.id) call.id = piece.id
  if (piece.name) call.name = piece.name
  call.arguments += piece.arguments ?? ''
}
