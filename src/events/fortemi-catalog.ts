/**
 * The names of the upstream Fortemi event catalog (dotted `event_type` → legacy payload `type`), as the HotM
 * client subscribes to them. This server emits only some of them (see catalog.ts); the others are accepted in
 * SSE `types` filters so a client written for Fortemi can subscribe unchanged — they simply never arrive.
 */
export const FORTEMI_EVENT_TYPES: Readonly<Record<string, string>> = {
  'queue.status': 'QueueStatus',
  'job.queued': 'JobQueued',
  'job.started': 'JobStarted',
  'job.progress': 'JobProgress',
  'job.completed': 'JobCompleted',
  'job.failed': 'JobFailed',
  'jobs.paused': 'JobsPaused',
  'jobs.resumed': 'JobsResumed',
  'note.created': 'NoteCreated',
  'note.updated': 'NoteUpdated',
  'note.deleted': 'NoteDeleted',
  'note.archived': 'NoteArchived',
  'note.restored': 'NoteRestored',
  'note.tags.updated': 'NoteTagsUpdated',
  'note.links.updated': 'NoteLinksUpdated',
  'note.revision.created': 'NoteRevisionCreated',
  'attachment.created': 'AttachmentCreated',
  'attachment.deleted': 'AttachmentDeleted',
  'attachment.extraction.updated': 'AttachmentExtractionUpdated',
  'collection.created': 'CollectionCreated',
  'collection.updated': 'CollectionUpdated',
  'collection.deleted': 'CollectionDeleted',
  'collection.membership.changed': 'CollectionMembershipChanged',
  'archive.created': 'ArchiveCreated',
  'archive.updated': 'ArchiveUpdated',
  'archive.deleted': 'ArchiveDeleted',
  'archive.default.changed': 'ArchiveDefaultChanged',
  'concept_scheme.created': 'ConceptSchemeCreated',
  'concept_scheme.updated': 'ConceptSchemeUpdated',
  'concept_scheme.deleted': 'ConceptSchemeDeleted',
  'concept.created': 'ConceptCreated',
  'concept.updated': 'ConceptUpdated',
  'concept.deleted': 'ConceptDeleted',
  'concept.relations.updated': 'ConceptRelationsUpdated',
  'concept.scheme.changed': 'ConceptSchemeChanged',
  'concept.collection.membership.changed': 'ConceptCollectionMembershipChanged',
  'tag.created': 'TagCreated',
  'tag.renamed': 'TagRenamed',
  'tag.deleted': 'TagDeleted',
  'tag.merged': 'TagMerged',
  'tag.stats.updated': 'TagStatsUpdated',
  'index.embedding.updated': 'IndexEmbeddingUpdated',
  'index.linking.updated': 'IndexLinkingUpdated',
  'index.fts.updated': 'IndexFtsUpdated',
  'readmodel.graph.updated': 'ReadmodelGraphUpdated',
  'readmodel.search.ready': 'ReadmodelSearchReady',
  'inference.config.changed': 'InferenceConfigChanged',
  'inference.availability.changed': 'InferenceAvailabilityChanged',
}

/** Transport-level frames of the SSE endpoint, which clients also name in `types` (`events` = `events.*`). */
export const SYNTHETIC_EVENT_NAMES: readonly string[] = ['resync_required', 'events.lagged', 'ResyncRequired', 'EventsLagged']

const LEGACY_NAMES = new Set(Object.values(FORTEMI_EVENT_TYPES))
const DOTTED = Object.keys(FORTEMI_EVENT_TYPES)

/** Whether `name` is a dotted name, a dotted prefix, a legacy name or a synthetic name of the Fortemi catalog. */
export function isFortemiEventName(name: string): boolean {
  if (LEGACY_NAMES.has(name) || SYNTHETIC_EVENT_NAMES.includes(name)) return true
  if (name === 'events') return true
  return DOTTED.some((d) => d === name || d.startsWith(name + '.'))
}
