// The create form's pure parts: the request built from the form's values,
// which field an API error belongs to, the sample init script, and the step
// of the boot the progress shows. test/create_spec.test.ts checks them.
import type { CreateServerRequest, Server } from './api';

// The fields kumod names in a validation error's `field`, in form order.
export const kCreateFields = ['name', 'image', 'vcpus', 'memory_mib', 'disk_gib', 'ssh_key', 'user_data'] as const;
export type CreateField = (typeof kCreateFields)[number];

export interface CreateValues {
  name: string;
  image: string;
  vcpus: string;
  memory_mib: string;
  disk_gib: string;
  ssh_key: string;
  user_data: string;
}

// Numbers go as typed (kumod says what is wrong with them); empty optional
// fields are left out so kumod's defaults apply. The name is trimmed of
// surrounding blanks only; the SSH key of its trailing newline.
export function buildCreateRequest(v: CreateValues): CreateServerRequest {
  const req: CreateServerRequest = { name: v.name.trim() };
  if (v.image !== '') req.image = v.image;
  const num = (text: string): number | undefined => (text.trim() === '' ? undefined : Number(text));
  const vcpus = num(v.vcpus);
  const memory = num(v.memory_mib);
  const disk = num(v.disk_gib);
  if (vcpus !== undefined) req.vcpus = vcpus;
  if (memory !== undefined) req.memory_mib = memory;
  if (disk !== undefined) req.disk_gib = disk;
  const key = v.ssh_key.trim();
  if (key !== '') req.ssh_key = key;
  if (v.user_data.trim() !== '') req.user_data = v.user_data;
  return req;
}

// The field an API error is shown at, or null for the top of the form.
export function errorField(field: string): CreateField | null {
  return (kCreateFields as readonly string[]).includes(field) ? (field as CreateField) : null;
}

// What "Use a sample init script" fills in: a first-boot shell script.
export const kSampleUserData = [
  '#!/bin/sh',
  '# Runs once, as root, at the first boot (add a line "# kumo: every-boot"',
  '# to run it at every boot). Its output goes to the serial console and',
  "# the server's timeline.",
  '# To set a root password for the console, uncomment:',
  "# echo 'root:change-me' | chpasswd",
  'echo "hello from $(hostname)"',
  '',
].join('\n');

export type CreateStep = 'creating' | 'starting' | 'running' | 'warning' | 'failed' | 'stopped';

// Where the new server is on its way to running, from its record. kumod
// keeps the task `creating` until the agent answers; once QEMU runs, the
// guest is booting.
export function createStep(s: Pick<Server, 'status' | 'task' | 'power'>): CreateStep {
  switch (s.status) {
    case 'running':
      return 'running';
    case 'warning':
      return 'warning';
    case 'error':
      return 'failed';
    case 'stopped':
      return 'stopped';
    case 'pending':
      return s.task === 'creating' && s.power === 'off' ? 'creating' : 'starting';
  }
}
