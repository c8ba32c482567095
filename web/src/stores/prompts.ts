/**
 * The prompt library, kept on the server per account (so it follows the person to every device),
 * plus the collection the administrators share with everyone, in the UI language. A library an
 * earlier version left in this browser's localStorage moves up to the server once.
 */
import { defineStore } from 'pinia'
import { promptsApi, type ServerPrompt, type SharedPrompt } from '@/api/prompts'
import { mergePrompts, parsePromptList, type MergeResult, type Prompt } from '@/lib/promptStore'
import { loadPref, removePref } from './persist'

/** Where versions before the server-side library kept it (`chatgate.prompts`). */
export const LEGACY_KEY = 'prompts'

export const usePromptsStore = defineStore('prompts', {
  state: () => ({
    mine: [] as ServerPrompt[],
    shared: [] as SharedPrompt[],
    loaded: false,
  }),
  getters: {
    /** What `/` suggests: my prompts first, then the shared ones I have no prompt of that title for. */
    prompts: (state): Prompt[] => {
      const own = new Set(state.mine.map((p) => p.key))
      return [
        ...state.mine.map(({ key, value }) => ({ key, value })),
        ...state.shared.filter((p) => !own.has(p.key)).map(({ key, value }) => ({ key, value })),
      ]
    },
  },
  actions: {
    async load(): Promise<void> {
      this.mine = await promptsApi.list()
      this.loaded = true
    },
    async loadShared(locale: string): Promise<void> {
      this.shared = await promptsApi.shared(locale)
    },
    /** Add a prompt, or change the one with id `id`. */
    async save(prompt: Prompt, id?: string): Promise<void> {
      const body = { key: prompt.key.trim(), value: prompt.value }
      if (id) {
        const updated = await promptsApi.update(id, body)
        this.mine = this.mine.map((p) => (p.id === id ? updated : p))
      } else {
        this.mine = [...this.mine, await promptsApi.create(body)]
      }
    },
    async remove(id: string): Promise<void> {
      await promptsApi.remove(id)
      this.mine = this.mine.filter((p) => p.id !== id)
    },
    async clear(): Promise<void> {
      await promptsApi.clear()
      this.mine = []
    },
    /** chatgpt-web prompt-store JSON. Throws PromptImportError for unreadable files. */
    async importJson(text: string): Promise<MergeResult> {
      const incoming = parsePromptList(text)
      const result = await promptsApi.import(incoming)
      this.mine = result.prompts
      return {
        prompts: result.prompts.map(({ key, value }) => ({ key, value })),
        added: result.added,
        updated: result.updated,
      }
    },
    /**
     * Move a library this browser kept in localStorage up to the account, once: it is merged
     * (a title the account has takes the browser's text, as an import would), then forgotten here.
     */
    async migrateLocal(): Promise<number> {
      const local = loadPref<Prompt[]>(LEGACY_KEY, () => []).filter(
        (p) => p && typeof p.key === 'string' && typeof p.value === 'string' && p.key.trim() && p.value.trim(),
      )
      if (!local.length) {
        removePref(LEGACY_KEY)
        return 0
      }
      const result = await promptsApi.import(mergePrompts([], local).prompts)
      this.mine = result.prompts
      removePref(LEGACY_KEY)
      return result.added + result.updated
    },
    reset(): void {
      this.mine = []
      this.shared = []
      this.loaded = false
    },
  },
})
