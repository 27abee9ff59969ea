// Vite builds the portal into dist/, which the stamp serves at / (functions/portal.py).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Source maps stay out of the package the stamp serves.
    sourcemap: false,
    chunkSizeWarningLimit: 900,
  },
});
