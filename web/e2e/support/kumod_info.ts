// The facts of the kumod that the global setup started, shared with the
// tests through a JSON file (named by $KUMO_E2E_INFO).
import { readFileSync } from 'node:fs';
import { kInfoEnv } from './paths';

export interface KumodInfo {
  baseURL: string; // http://127.0.0.1:PORT
  token: string; // the API token (STATE_DIR/token)
  stateDir: string;
  tempDir: string; // holds stateDir and kumod.log; removed at teardown
  logPath: string;
  pid: number; // kumod's
}

export function readKumodInfo(): KumodInfo {
  const path = process.env[kInfoEnv];
  if (!path) throw new Error(`${kInfoEnv} is not set: run the tests through e2e/playwright.config.ts`);
  return JSON.parse(readFileSync(path, 'utf8')) as KumodInfo;
}
