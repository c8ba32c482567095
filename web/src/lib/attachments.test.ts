import { describe, expect, it } from 'vitest'
import type { MessagePart } from '@/api/types'
import {
  addToolCallPiece,
  carriesFiles,
  filesIn,
  formatArguments,
  formatBytes,
  nameFor,
  pastedFiles,
} from './attachments'

const png = () => new File([new Uint8Array([137, 80, 78, 71])], 'image.png', { type: 'image/png' })

function carrier(files: File[], text = '') {
  const types = [...(text ? ['text/plain'] : []), ...(files.length ? ['Files'] : [])]
  return {
    types,
    files,
    items: files.map((f) => ({ kind: 'file', type: f.type, getAsFile: () => f })),
    getData: (type: string) => (type === 'text/plain' ? text : ''),
  }
}

describe('attached files', () => {
  it("says sizes in the reader's language", () => {
    expect(formatBytes(617, 'en-US')).toMatch(/^617\s?byte/)
    expect(formatBytes(48_213, 'en-US')).toBe('48.2 kB')
    expect(formatBytes(3_100_000, 'de-DE')).toBe('3,1 MB')
  })

  it('takes a pasted screenshot as a file, but pastes text as text', () => {
    const shot = png()
    expect(pastedFiles(carrier([shot]))).toEqual([shot])
    // A spreadsheet cell comes with a picture of itself: the text is what was meant.
    expect(pastedFiles(carrier([shot], 'A1'))).toEqual([])
    expect(pastedFiles(carrier([], 'hello'))).toEqual([])
    expect(pastedFiles(null)).toEqual([])
  })

  it('reads dropped files, and knows a drag of files from a drag of text', () => {
    const a = png()
    expect(filesIn(carrier([a]))).toEqual([a])
    expect(filesIn({ files: [a], items: [] })).toEqual([a])
    expect(carriesFiles(carrier([a]))).toBe(true)
    expect(carriesFiles(carrier([], 'just text'))).toBe(false)
  })

  it('names a nameless paste', () => {
    const nameless = new File([new Uint8Array([1])], '', { type: 'image/jpeg' })
    expect(nameFor(nameless, new Date('2026-12-06T11:30:05Z'))).toBe('pasted-20261206-113005.jpg')
    expect(nameFor(png())).toBe('image.png')
  })

  it("shows a call's arguments as indented JSON, or as written when they are not JSON", () => {
    expect(formatArguments('{"city":"Paris","days":[1,2]}')).toBe(
      '{\n  "city": "Paris",\n  "days": [\n    1,\n    2\n  ]\n}',
    )
    expect(formatArguments('{"city": "Par')).toBe('{"city": "Par')
    expect(formatArguments('')).toBe('{}')
  })

  it('builds whole tool calls from streamed pieces, in index order', () => {
    const parts: MessagePart[] = []
    addToolCallPiece(parts, { index: 1, id: 'call_b', name: 'get_time', arguments: '' })
    addToolCallPiece(parts, { index: 0, id: 'call_a', name: 'get_weather', arguments: '{"city":' })
    addToolCallPiece(parts, { index: 0, id: null, name: null, arguments: '"Paris"}' })
    addToolCallPiece(parts, { index: 1, id: null, name: null, arguments: '{}' })
    expect(parts.map((p) => [p.type, p.id, p.name, p.arguments])).toEqual([
      ['tool_call', 'call_a', 'get_weather', '{"city":"Paris"}'],
      ['tool_call', 'call_b', 'get_time', '{}'],
    ])
  })
})
