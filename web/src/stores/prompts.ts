/** The prompt library (a UI preference, kept in localStorage), with prompt-store import/export. */
import { defineStore } from 'pinia'
import { mergePrompts, parsePromptList, serializePrompts, type MergeResult, type Prompt } from '@/lib/promptStore'
import { loadPref, savePref } from './persist'

const KEY = 'prompts'

export const usePromptsStore = defineStore('prompts', {
  state: () => ({ prompts: loadPref<Prompt[]>(KEY, () => []).filter((p) => p && typeof p.key === 'string' && typeof p.value === 'string') }),
  actions: {
    save(): void {
      savePref(KEY, this.prompts)
    },
    upsert(prompt: Prompt, previousKey?: string): void {
      const list = this.prompts.filter((p) => p.key !== (previousKey ?? prompt.key) && p.key !== prompt.key)
      const at = this.prompts.findIndex((p) => p.key === (previousKey ?? prompt.key))
      list.splice(at < 0 ? list.length : Math.min(at, list.length), 0, { key: prompt.key.trim(), value: prompt.value })
      this.prompts = list
      this.save()
    },
    remove(key: string): void {
      this.prompts = this.prompts.filter((p) => p.key !== key)
      this.save()
    },
    clear(): void {
      this.prompts = []
      this.save()
    },
    /** Throws PromptImportError for unreadable files. */
    importJson(text: string): MergeResult {
      const result = mergePrompts(this.prompts, parsePromptList(text))
      this.prompts = result.prompts
      this.save()
      return result
    },
    exportJson(): string {
      return serializePrompts(this.prompts)
    },
  },
})
