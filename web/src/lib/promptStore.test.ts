import { describe, expect, it } from 'vitest'
import { mergePrompts, parsePromptList, PromptImportError, searchPrompts, serializePrompts } from './promptStore'

describe('prompt-store import/export', () => {
  it('reads chatgpt-web prompt-store JSON', () => {
    const text = '[{"key":"翻译","value":"请把下面的内容翻译成英文"},{"key":"Linux","value":"Act as a terminal"}]'
    expect(parsePromptList(text)).toEqual([
      { key: '翻译', value: '请把下面的内容翻译成英文' },
      { key: 'Linux', value: 'Act as a terminal' },
    ])
  })

  it('accepts the act/prompt shape and skips malformed items', () => {
    expect(parsePromptList('[{"act":"A","prompt":"p"},{"key":1},null,{"key":"","value":"x"}]')).toEqual([
      { key: 'A', value: 'p' },
    ])
  })

  it.each([
    ['{', 'not_json'],
    ['{"key":"a"}', 'not_a_list'],
    ['[{"x":1}]', 'no_prompts'],
  ])('rejects %s', (text, reason) => {
    expect(() => parsePromptList(text)).toThrow(PromptImportError)
    expect(() => parsePromptList(text)).toThrow(reason)
  })

  it('round-trips through export', () => {
    const prompts = [{ key: 'a', value: 'b' }]
    expect(parsePromptList(serializePrompts(prompts))).toEqual(prompts)
  })

  it('merges by title', () => {
    const result = mergePrompts(
      [{ key: 'a', value: '1' }],
      [
        { key: 'a', value: '2' },
        { key: 'b', value: '3' },
        { key: 'b', value: '3' },
      ],
    )
    expect(result).toEqual({
      prompts: [
        { key: 'a', value: '2' },
        { key: 'b', value: '3' },
      ],
      added: 1,
      updated: 1,
    })
  })

  it('searches titles before text', () => {
    const prompts = [
      { key: 'Writer', value: 'translate' },
      { key: 'Translator', value: 'x' },
    ]
    expect(searchPrompts(prompts, 'transl').map((p) => p.key)).toEqual(['Translator', 'Writer'])
  })
})
