// A policy as the form edits it, and as PolicyInput (policies.rs) takes it.

export const TRIGGERS = [
  ['manual', 'Manual'],
  ['scheduled', 'Scheduled'],
  ['event_based', 'Event-based'],
];

// `label` is left out: the server refuses label filters (no kind has labels).
export const FILTER_TYPES = [
  ['name', 'Repository name'],
  ['tag', 'Tag'],
  ['resource', 'Resource'],
];

export function emptyPolicyForm() {
  return {
    name: '',
    description: '',
    src: '',
    dest: '',
    dest_namespace: '',
    replace_count: '-1',
    filters: [],
    trigger: 'manual',
    cron: '',
    replicate_deletion: false,
    override: true,
    enabled: true,
    speed: '-1',
    copy_by_chunk: false,
    chunk_size: String(10 * 1024 * 1024),
    single_active_replication: false,
    template: 'oci-to-oci',
  };
}

export function policyToForm(p) {
  return {
    name: p.name || '',
    description: p.description || '',
    src: p.src_registry ? String(p.src_registry.id) : '',
    dest: p.dest_registry ? String(p.dest_registry.id) : '',
    dest_namespace: p.dest_namespace || '',
    replace_count: String(p.dest_namespace_replace_count ?? -1),
    filters: (p.filters || []).map((f) => ({
      type: f.type === 'repository' ? 'name' : f.type,
      value: f.value == null ? '' : String(f.value),
      decoration: f.decoration || 'matches',
    })),
    trigger: (p.trigger && p.trigger.type) || 'manual',
    cron: (p.trigger && p.trigger.trigger_settings && p.trigger.trigger_settings.cron) || '',
    replicate_deletion: !!p.replicate_deletion,
    override: p.override !== false,
    enabled: p.enabled !== false,
    speed: String(p.speed ?? -1),
    copy_by_chunk: !!p.copy_by_chunk,
    chunk_size: String(p.chunk_size ?? 10 * 1024 * 1024),
    single_active_replication: !!p.single_active_replication,
    template: p.template || 'oci-to-oci',
  };
}

function int(value, field) {
  const s = String(value).trim();
  if (!/^-?\d+$/.test(s)) throw new Error(`${field}: a whole number`);
  return Number(s);
}

/** The PolicyInput body; throws an Error naming the field when a number is not one. */
export function formToInput(f) {
  if (!f.src) throw new Error('Source registry: choose one');
  if (!f.dest) throw new Error('Destination registry: choose one');
  const trigger = { type: f.trigger, trigger_settings: {} };
  if (f.trigger === 'scheduled') trigger.trigger_settings.cron = f.cron.trim();
  return {
    name: f.name,
    description: f.description,
    src_registry: { id: Number(f.src) },
    dest_registry: { id: Number(f.dest) },
    dest_namespace: f.dest_namespace.trim(),
    dest_namespace_replace_count: int(f.replace_count, 'Replace count'),
    filters: f.filters.map((x) => ({ type: x.type, value: x.value, decoration: x.decoration })),
    trigger,
    replicate_deletion: f.replicate_deletion,
    override: f.override,
    enabled: f.enabled,
    speed: int(f.speed, 'Speed (KB/s)'),
    copy_by_chunk: f.copy_by_chunk,
    chunk_size: int(f.chunk_size, 'Chunk size (bytes)'),
    single_active_replication: f.single_active_replication,
    template: f.template,
  };
}

/** A stored policy back to PolicyInput with one field changed (enable/disable). */
export function policyInputWith(p, changes) {
  return { ...formToInput(policyToForm(p)), ...changes };
}
