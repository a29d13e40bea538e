import { defineConfig } from 'vite';

// natterd serves dist/ (--web-root); `npm run dev` proxies the API to a natterd
// on :8080 so the page can be worked on with hot reload.
export default defineConfig({
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2020',
  },
  server: {
    proxy: {
      '/v1': { target: 'http://127.0.0.1:8080', ws: true },
    },
  },
});
