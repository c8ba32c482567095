/**
 * New-chat defaults of the account (model, system prompt, temperature…), kept on the server:
 * every new chat on every device starts from them. Changing the settings of a new chat (before
 * its first message) changes them, as chatgpt-web's settings apply to every chat.
 */
import { defineStore } from 'pinia'
import { accountApi } from '@/api/account'
import type { ConversationSettings } from '@/api/types'

export const useChatDefaultsStore = defineStore('chatDefaults', {
  state: () => ({ settings: null as ConversationSettings | null }),
  actions: {
    async load(): Promise<ConversationSettings> {
      const settings = await accountApi.defaults()
      this.settings = settings
      return settings
    },
    async save(settings: ConversationSettings): Promise<ConversationSettings> {
      const saved = await accountApi.saveDefaults(settings)
      this.settings = saved
      return saved
    },
    reset(): void {
      this.settings = null
    },
  },
})
