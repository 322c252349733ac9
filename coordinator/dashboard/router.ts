import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

/** The page's static files (HTML, one JS module, CSS); served as-is, there is no build step. */
export const DASHBOARD_ASSETS_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * Everything the page loads comes from this router and talks only to this origin's /api/v1, so the policy
 * can forbid every other source: no CDN, no inline script, no framing.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The operator dashboard. Mount it with `app.use('/dashboard', dashboardRouter())` before the API's
 * catch-all 404 handler. The page finds the API at `../api/v1/` relative to itself, so it must be mounted
 * one level below the coordinator's root, next to `/api/v1`.
 */
export function dashboardRouter(): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    res.set({
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-cache',
    });
    // `/dashboard` without the slash would resolve the page's relative asset and API URLs against `/`.
    const [path, query] = splitUrl(req.originalUrl);
    if (req.path === '/' && !path.endsWith('/')) {
      res.redirect(301, `${path}/${query}`);
      return;
    }
    next();
  });
  r.use(express.static(DASHBOARD_ASSETS_DIR, { index: 'index.html', redirect: false, dotfiles: 'ignore', fallthrough: true }));
  return r;
}

function splitUrl(url: string): [string, string] {
  const q = url.indexOf('?');
  return q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q)];
}
