/**
 * The upstreams as the admin console sees them: their live state (GET /api/admin/providers: read
 * by the Upstreams tab and by the notice that tells administrators when a provider cannot
 * answer) and their configuration (GET /api/admin/upstreams: providers, credentials, models).
 */
import { defineStore } from 'pinia'
import { api } from '@/api/client'
import type { ProviderStatus, UpstreamsOverview } from '@/api/types'

export const useUpstreamsStore = defineStore('upstreams', {
  state: () => ({
    providers: null as ProviderStatus[] | null,
    error: null as unknown,
    updatedAt: null as Date | null,
    overview: null as UpstreamsOverview | null,
    overviewError: null as unknown,
  }),
  getters: {
    /** Providers none of whose models can answer now (every credential rests or cools down). */
    unusable: (state): ProviderStatus[] => (state.providers ?? []).filter((p) => p.usable === false),
    /** Every provider name in use (a new one must differ). */
    names: (state): string[] => (state.overview?.providers ?? []).map((p) => p.name),
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
    async loadOverview(signal?: AbortSignal): Promise<void> {
      try {
        this.overview = await api.admin.upstreams.list(signal)
        this.overviewError = null
      } catch (err) {
        if ((err as Error).name !== 'AbortError') this.overviewError = err
      }
    },
    /** The Upstreams tab's refresh: the state and the configuration together. */
    async refreshAll(signal?: AbortSignal): Promise<void> {
      await Promise.all([this.refresh(signal), this.loadOverview(signal)])
    },
    /** "Try now": end the credential's rest at once, then show what changed. */
    async retry(provider: string, credential: string): Promise<void> {
      await api.admin.retryCredential(provider, credential)
      await this.refresh()
    },
  },
})
