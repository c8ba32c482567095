/** useErrorText for the console's upstreams: its conflicts said precisely, the upstream's own words kept. */
import { useI18n } from 'vue-i18n'
import { ApiError } from '@/api/client'
import { conflictSentence } from '@/lib/upstreams'
import { useErrorText } from './useErrorText'

export function useUpstreamErrorText(): (error: unknown) => string {
  const { t } = useI18n()
  const errorText = useErrorText()
  return (error: unknown) => {
    if (error instanceof ApiError && error.code === 'conflict')
      return conflictSentence(error.message, t) ?? errorText(error)
    const sentence = errorText(error)
    // An upstream's refusal: its (redacted) words say what to fix ("Incorrect API key provided…").
    if (
      error instanceof ApiError &&
      error.code.startsWith('upstream_') &&
      error.message &&
      error.message !== sentence
    ) {
      return `${sentence} ${error.message}`
    }
    return sentence
  }
}
