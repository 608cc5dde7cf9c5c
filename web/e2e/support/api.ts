// kumod's API from Node with the bearer token, for the set-up steps that are
// not what a spec tests (creating a server to look at, exec in the guest,
// faults, setting a password). What the user does goes through the page.
import type { KumodInfo } from './kumod_info';

export interface ApiResult {
  status: number;
  body: any; // parsed JSON, or the text when it is not JSON
}

export interface ServerRecord {
  name: string;
  status: string;
  status_reason: string;
  power: string;
  agent: string;
  task: string;
  qemu_pid: number | null;
  [key: string]: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KumodApi {
  constructor(readonly info: KumodInfo) {}

  async call(method: string, path: string, body?: unknown): Promise<ApiResult> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.info.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(this.info.baseURL + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: r.status, body: parsed };
  }

  async must(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async server(name: string): Promise<ServerRecord | null> {
    const r = await this.call('GET', `/v1/servers/${encodeURIComponent(name)}`);
    return r.status === 200 ? (r.body as ServerRecord) : null;
  }

  // Polls (every 250 ms) until the server's status is `status`; throws with
  // the last record otherwise.
  async waitStatus(name: string, status: string, timeoutMs: number): Promise<ServerRecord> {
    const deadline = Date.now() + timeoutMs;
    let last: ServerRecord | null = null;
    while (Date.now() < deadline) {
      last = await this.server(name);
      if (last?.status === status) return last;
      await sleep(250);
    }
    throw new Error(`${name} is not ${status} after ${timeoutMs / 1000} s: ${JSON.stringify(last)}`);
  }

  createServer(name: string, memoryMib = 256): Promise<ServerRecord> {
    return this.must('POST', '/v1/servers', { name, memory_mib: memoryMib });
  }

  // The server `name` running (created or started if need be): specs that
  // only need a server to look at share one this way.
  async ensureRunning(name: string, bootTimeoutMs = 300_000): Promise<ServerRecord> {
    const s = await this.server(name);
    if (!s) await this.createServer(name);
    else if (s.status === 'stopped') await this.must('POST', `/v1/servers/${name}/actions`, { action: 'start' });
    return this.waitStatus(name, 'running', bootTimeoutMs);
  }

  // A running server to look at: the first one running, else `name` made
  // running. Specs that only look share the guests earlier specs booted.
  async someRunning(name: string): Promise<ServerRecord> {
    const { servers } = (await this.must('GET', '/v1/servers')) as { servers: ServerRecord[] };
    return servers.find((s) => s.status === 'running') ?? this.ensureRunning(name);
  }

  // Runs /bin/sh -c SCRIPT in the guest (through kumod and the agent), with
  // `args` as $1...; returns exit code and output.
  async shell(name: string, script: string, args: string[] = [], timeoutS = 60): Promise<{ exit_code: number; stdout: string; stderr: string }> {
    return this.must('POST', `/v1/servers/${encodeURIComponent(name)}/exec`, {
      path: '/bin/sh',
      args: ['-c', script, 'sh', ...args],
      timeout_s: timeoutS,
    });
  }

  setPassword(name: string, user: string, password: string): Promise<unknown> {
    return this.must('POST', `/v1/servers/${encodeURIComponent(name)}/password`, { user, password });
  }

  diagnosis(name: string): Promise<any> {
    return this.must('GET', `/v1/servers/${encodeURIComponent(name)}/diagnosis`);
  }
}
