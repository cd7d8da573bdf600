// What a registry operator pastes into CNCF distribution's config so that
// its pushes and deletes reach ferry.

export function eventEndpoint(origin, registryId) {
  return `${origin}/api/v1/registries/${registryId}/events`;
}

export function notificationsSnippet(origin, registryId) {
  return `notifications:
  events:
    includereferences: true
  endpoints:
    - name: ferry
      url: ${eventEndpoint(origin, registryId)}
      headers:
        Authorization: ["Bearer <your event secret>"]
      timeout: 2s
      threshold: 5
      backoff: 1s
      ignore:
        actions: [pull]
`;
}
