// The panel's client of kumod's API (docs/openapi.json is the contract).
// The session cookie rides along by itself; state-changing requests carry the
// session's CSRF token, which lives only in memory (never in storage or a
// URL). Every failure becomes an ApiError with the API's code, message, hint
// and, for bad input, the field it is about.

export type Status = 'pending' | 'running' | 'warning' | 'stopped' | 'error';
export type Power = 'off' | 'running' | 'paused' | 'crashed';
export type Agent = 'unknown' | 'ok' | 'unresponsive' | 'none';
export type Task =
  | 'none'
  | 'creating'
  | 'starting'
  | 'stopping'
  | 'rebooting'
  | 'rescuing'
  | 'deleting';

export interface Server {
  name: string;
  status: Status;
  status_reason: string;
  power: Power;
  agent: Agent;
  task: Task;
  image: string;
  vcpus: number;
  memory_mib: number;
  disk_gib: number;
  has_ssh_key: boolean;
  user_data_bytes: number;
  created: string;
  updated: string;
  agent_last_seen: string | null;
  task_started: string | null;
  task_deadline: string | null;
  qemu_pid: number | null;
  boot_mode: 'normal' | 'rescue';
  ssh_port: number | null;
  // GET /v1/servers/NAME only: who to log in as, and SSH through kumod's forward.
  login_user?: string;
  ssh_command?: string | null;
  // POST /v1/servers only: what the image will not do with the user data.
  warnings?: string[];
  // GET /v1/servers only: the last diagnosis's top finding, for the row.
  top_finding?: Pick<Finding, 'code' | 'severity' | 'summary'> | null;
}

export interface ServerEvent {
  id: number;
  time: string;
  kind: string;
  status: Status;
  message: string;
}

export interface Image {
  name: string;
  kernel_release: string;
  registered: string;
}

export interface Evidence {
  source: 'agent' | 'console' | 'host' | 'event' | 'probe';
  time: number | null;
  text: string;
}

export interface DiagnosisAction {
  action: string; // console, force_stop, stop, reboot, force_reboot, rescue, exec, start
  why: string;
}

export interface Finding {
  code: string;
  severity: 'critical' | 'warning' | 'info';
  summary: string;
  since: number | null;
  evidence: Evidence[];
  actions: DiagnosisAction[];
}

export interface Check {
  code: string;
  state: 'found' | 'clear' | 'unknown';
  detail: string;
}

export interface Diagnosis {
  server: string;
  status: string;
  status_reason: string;
  checked_at: number;
  findings: Finding[];
  checks: Check[];
}

export type MetricsWindow = '1h' | '24h';

export interface Metrics {
  server: string;
  step: '5s' | '1m';
  from: number;
  to: number;
  // Columns of equal length: time (ms), agent_up, load1, mem_total_kib,
  // mem_available_kib, psi_cpu_some10, psi_mem_some10, psi_mem_full10,
  // psi_io_some10, root_used_kib, root_total_kib, oom_kills,
  // qemu_cpu_percent, qemu_rss_mib; null where unknown.
  series: Record<string, (number | null)[]>;
}

export interface CreateServerRequest {
  name: string;
  image?: string;
  vcpus?: number;
  memory_mib?: number;
  disk_gib?: number;
  ssh_key?: string;
  user_data?: string;
}

export type ActionName = 'start' | 'stop' | 'reboot' | 'rescue' | 'unrescue';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string = '',
    readonly field: string = '',
  ) {
    super(message);
  }
}

interface SessionInfo {
  session: boolean;
  csrf_token?: string;
  expires_at?: number;
}

export class Api {
  private csrf = '';
  // Called when a request finds the session gone (401): the app shows sign-in.
  onSignedOut: () => void = () => {};

  // True when the browser holds a live session (and learns its CSRF token).
  async restoreSession(): Promise<boolean> {
    const info = await this.request<SessionInfo>('GET', '/v1/session');
    this.csrf = info.session ? info.csrf_token ?? '' : '';
    return info.session;
  }

  async signIn(token: string): Promise<void> {
    const info = await this.request<SessionInfo>('POST', '/v1/session', { token });
    this.csrf = info.csrf_token ?? '';
  }

  async signOut(): Promise<void> {
    await this.request('DELETE', '/v1/session');
    this.csrf = '';
  }

  listServers(): Promise<{ servers: Server[] }> {
    return this.request('GET', '/v1/servers');
  }
  getServer(name: string): Promise<Server> {
    return this.request('GET', serverPath(name));
  }
  listImages(): Promise<{ images: Image[] }> {
    return this.request('GET', '/v1/images');
  }
  createServer(spec: CreateServerRequest): Promise<Server> {
    return this.request('POST', '/v1/servers', spec);
  }
  deleteServer(name: string, force = false): Promise<Server> {
    return this.request('DELETE', serverPath(name) + (force ? '?force=true' : ''));
  }
  action(name: string, action: ActionName, force = false): Promise<Server> {
    const body: { action: ActionName; force?: boolean } = { action };
    if (force) body.force = true;
    return this.request('POST', serverPath(name) + '/actions', body);
  }
  // Stop by the ACPI power button (QMP system_powerdown): the guest's OS
  // shuts down by itself, without its agent.
  powerButton(name: string): Promise<Server> {
    return this.request('POST', serverPath(name) + '/actions', { action: 'stop', acpi: true });
  }
  // set_in: where kumod set it (through the agent, or in the server's own
  // disk from the rescue system), in kumod's words.
  setPassword(name: string, password: string, user?: string): Promise<{ set_in?: string }> {
    return this.request('POST', serverPath(name) + '/password', user ? { user, password } : { password });
  }
  listEvents(name: string, limit = 100): Promise<{ events: ServerEvent[] }> {
    return this.request('GET', `${serverPath(name)}/events?limit=${limit}`);
  }
  diagnosis(name: string): Promise<Diagnosis> {
    return this.request('GET', serverPath(name) + '/diagnosis');
  }
  metrics(name: string, window: MetricsWindow): Promise<Metrics> {
    return this.request('GET', `${serverPath(name)}/metrics?window=${window}`);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && this.csrf) headers['X-CSRF-Token'] = this.csrf;
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, 'Unreachable', 'kumod did not answer', String(e));
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; hint?: string; field?: string } } | null)
        ?.error;
      if (res.status === 401 && path !== '/v1/session') this.onSignedOut();
      throw new ApiError(
        res.status,
        err?.code ?? 'HttpError',
        err?.message ?? `HTTP ${res.status}`,
        err?.hint ?? '',
        err?.field ?? '',
      );
    }
    return json as T;
  }
}

export function serverPath(name: string): string {
  return '/v1/servers/' + encodeURIComponent(name);
}
