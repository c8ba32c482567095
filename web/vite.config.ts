/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'
import tailwindcss from '@tailwindcss/vite'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

const backend = process.env.CHATGATE_DEV_BACKEND ?? 'http://127.0.0.1:3002'

/** Modules only mermaid needs; their chunks go to assets/diagram/ and stay out of the precache. */
const DIAGRAM_MODULES =
  /node_modules[\\/](mermaid|@mermaid-js|cytoscape[^\\/]*|elkjs|langium|chevrotain[^\\/]*|@chevrotain|d3[^\\/]*|dagre-d3-es|khroma|roughjs|@iconify|vscode-[^\\/]*|stylis|marked|cose-base|layout-base|@upsetjs|dayjs)[\\/]/

export default defineConfig({
  plugins: [
    vue(),
    tailwindcss(),
    VitePWA({
      // A separate registerSW.js file: the server's CSP forbids inline scripts.
      injectRegister: 'script',
      registerType: 'autoUpdate',
      includeAssets: ['favicon.svg', 'apple-touch-icon.png'],
      manifest: {
        name: 'ChatGate',
        short_name: 'ChatGate',
        description: "Your team's private, shared ChatGPT",
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#ffffff',
        theme_color: '#10a37f',
        icons: [
          { src: '/pwa-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/pwa-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/pwa-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // Mermaid (and its layout engines) is large and rarely needed: fetched on demand, never precached.
        globIgnores: ['assets/diagram/**', '**/KaTeX_*.ttf', '**/KaTeX_*.woff'],
        globPatterns: ['**/*.{js,css,html,svg,png,woff2,webmanifest}'],
        maximumFileSizeToCacheInBytes: 3 * 1024 * 1024,
        navigateFallback: '/index.html',
        // Server routes are never answered from the cache.
        navigateFallbackDenylist: [/^\/api\//, /^\/v1\//, /^\/docs/, /^\/openapi\.json/, /^\/healthz/, /^\/readyz/],
        runtimeCaching: [],
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
    // @vscode/markdown-it-katex nests an older katex; use the one we pin.
    dedupe: ['katex'],
  },
  build: {
    outDir: '../src/chatgate/static',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        chunkFileNames: (chunk) =>
          chunk.moduleIds.length > 0 && chunk.moduleIds.every((id) => DIAGRAM_MODULES.test(id))
            ? 'assets/diagram/[name]-[hash].js'
            : 'assets/[name]-[hash].js',
      },
    },
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': {
        target: backend,
        // The API checks Origin on unsafe methods; make the proxied requests same-origin.
        configure: (proxy) => {
          proxy.on('proxyReq', (req) => req.setHeader('origin', backend))
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
    // The HTML export inlines these stylesheets (`?raw`); vitest leaves other CSS out.
    css: { include: [/katex\.min\.css/, /styles[\\/](markdown|highlight)\.css/] },
  },
})
