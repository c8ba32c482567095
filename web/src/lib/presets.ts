/**
 * The AI services the "Connect an AI service" form offers: each a provider kind with its usual
 * base URL. Every OpenAI-compatible service is kind `openai` with its own base URL.
 */
import type { ProviderKind } from '@/api/types'

export interface ServicePreset {
  id: string
  /** A brand name (not translated), or null: the label is `connect.preset_<id>`. */
  brand: string | null
  kind: Exclude<ProviderKind, 'local'>
  /** The provider's name when saved (the admin may change it). */
  name: string
  baseUrl: string
  /** The base URL must be typed (Azure's resource, a proxy, any URL). */
  needsBaseUrl: boolean
  /** 'required', 'optional' (keyless local servers) or 'none'. */
  key: 'required' | 'optional'
  /** What the secret is called: an API key, or a ChatGPT access token. */
  secret: 'key' | 'token'
  apiVersion?: string
  /** A sentence the admin must read (`connect.note_<id>`). */
  note?: boolean
  /** An example of the base URL to type (a URL: the same in every language). */
  example?: string
}

export const AZURE_API_VERSION = '2024-10-21'

export const PRESETS: readonly ServicePreset[] = [
  {
    id: 'openai',
    brand: 'OpenAI',
    kind: 'openai',
    name: 'openai',
    baseUrl: 'https://api.openai.com/v1',
    needsBaseUrl: false,
    key: 'required',
    secret: 'key',
  },
  {
    id: 'anthropic',
    brand: 'Anthropic',
    kind: 'anthropic',
    name: 'anthropic',
    baseUrl: 'https://api.anthropic.com',
    needsBaseUrl: false,
    key: 'required',
    secret: 'key',
  },
  {
    id: 'azure',
    brand: 'Azure OpenAI',
    kind: 'azure',
    name: 'azure',
    baseUrl: '',
    needsBaseUrl: true,
    key: 'required',
    secret: 'key',
    apiVersion: AZURE_API_VERSION,
    note: true,
    example: 'https://my-resource.openai.azure.com',
  },
  {
    id: 'deepseek',
    brand: 'DeepSeek',
    kind: 'openai',
    name: 'deepseek',
    baseUrl: 'https://api.deepseek.com/v1',
    needsBaseUrl: false,
    key: 'required',
    secret: 'key',
  },
  {
    id: 'openrouter',
    brand: 'OpenRouter',
    kind: 'openai',
    name: 'openrouter',
    baseUrl: 'https://openrouter.ai/api/v1',
    needsBaseUrl: false,
    key: 'required',
    secret: 'key',
  },
  {
    id: 'gemini',
    brand: 'Google Gemini',
    kind: 'gemini',
    name: 'gemini',
    baseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
    needsBaseUrl: false,
    key: 'required',
    secret: 'key',
  },
  {
    id: 'mistral',
    brand: 'Mistral',
    kind: 'mistral',
    name: 'mistral',
    baseUrl: 'https://api.mistral.ai/v1',
    needsBaseUrl: false,
    key: 'required',
    secret: 'key',
  },
  {
    id: 'ollama',
    brand: 'Ollama',
    kind: 'openai',
    name: 'ollama',
    baseUrl: 'http://localhost:11434/v1',
    needsBaseUrl: false,
    key: 'optional',
    secret: 'key',
    note: true,
  },
  {
    id: 'lmstudio',
    brand: 'LM Studio',
    kind: 'openai',
    name: 'lmstudio',
    baseUrl: 'http://localhost:1234/v1',
    needsBaseUrl: false,
    key: 'optional',
    secret: 'key',
  },
  {
    id: 'vllm',
    brand: 'vLLM',
    kind: 'openai',
    name: 'vllm',
    baseUrl: 'http://localhost:8000/v1',
    needsBaseUrl: false,
    key: 'optional',
    secret: 'key',
  },
  {
    id: 'llamacpp',
    brand: 'llama.cpp server',
    kind: 'openai',
    name: 'llamacpp',
    baseUrl: 'http://localhost:8080/v1',
    needsBaseUrl: false,
    key: 'optional',
    secret: 'key',
  },
  {
    id: 'custom',
    brand: null,
    kind: 'openai',
    name: 'custom',
    baseUrl: '',
    needsBaseUrl: true,
    key: 'optional',
    secret: 'key',
    example: 'https://llm.example.org/v1',
  },
  {
    id: 'chatgpt_web',
    brand: null,
    kind: 'chatgpt_web',
    name: 'chatgpt',
    baseUrl: '',
    needsBaseUrl: true,
    key: 'required',
    secret: 'token',
    note: true,
    example: 'https://chatgpt-proxy.example.org/backend-api/conversation',
  },
]

export function presetById(id: string): ServicePreset {
  return PRESETS.find((p) => p.id === id) ?? PRESETS[0]
}

/** A provider name not taken yet: "openai", then "openai-2"… */
export function freeName(base: string, taken: readonly string[]): string {
  const names = new Set(taken.map((n) => n.toLowerCase()))
  if (!names.has(base.toLowerCase())) return base
  for (let i = 2; ; i++) if (!names.has(`${base}-${i}`.toLowerCase())) return `${base}-${i}`
}
