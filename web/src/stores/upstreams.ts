/**
 * The upstreams as the admin console sees them (GET /api/admin/providers): read by the
 * Upstreams tab and by the notice that tells administrators when a provider cannot answer.
 */
import { defineStore } from 'pinia'
import { api } from '@/api/client'
import type { ProviderStatus } from '@/api/types'

export const useUpstreamsStore = defineStore('upstreams', {
  state: () => ({
    providers: null as ProviderStatus[] | null,
    error: null as unknown,
    updatedAt: null as Date | null,
  }),
  getters: {
    /** Providers none of whose models can answer now (every credential rests or cools down). */
    unusable: (state): ProviderStatus[] => (state.providers ?? []).filter((p) => p.usable === false),
  },
  actions: {
    async refresh(signal?: AbortSignal): Promise<void> {
      try {
        this.providers = await api.admin.providers(signal)
        this.updatedAt = new Date()
        this.error = null
      } catch (err) {
        if ((err as Error).name !== 'AbortError') this.error = err
      }
    },
    /** "Try now": end the credential's rest at once, then show what changed. */
    async retry(provider: string, credential: string): Promise<void> {
      await api.admin.retryCredential(provider, credential)
      await this.refresh()
    },
  },
})
