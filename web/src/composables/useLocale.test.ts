import { describe, expect, it } from 'vitest'
import { LOCALES } from '@/locales'
import { naiveLocaleFor } from './useLocale'

describe("naive-ui's locale", () => {
  it.each(LOCALES.map((l) => l.code))(
    "%s keeps naive-ui's words in that language, without its generic placeholders",
    (code) => {
      const locale = naiveLocaleFor(code)
      expect(locale.name.toLowerCase()).toBe(code.toLowerCase())
      expect(locale.Input.placeholder).toBe('')
      expect(locale.InputNumber.placeholder).toBe('')
      expect(locale.Select.placeholder).toBe('')
      expect(locale.Popconfirm.positiveText.length).toBeGreaterThan(0)
    },
  )
})
