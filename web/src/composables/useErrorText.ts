/** A translated sentence for any error: by the server's stable `code`, plus Retry-After. */
import { useI18n } from 'vue-i18n'
import { ApiError } from '@/api/client'

export function useErrorText(): (error: unknown) => string {
  const { t, te } = useI18n()
  return (error: unknown) => {
    const code = error instanceof ApiError ? error.code : (error as { code?: string } | null)?.code
    let text = code && te(`errors.${code}`) ? t(`errors.${code}`) : t('errors.unknown')
    if (error instanceof ApiError && error.retryAfter) text += ` ${t('errors.retryAfter', { seconds: error.retryAfter })}`
    return text
  }
}
