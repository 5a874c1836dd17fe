/**
 * Why the cluster stops start-up, in one line: a URL for the wrong engine, or an engine that
 * `cluster.required` needs and that does not answer. The CLI prints it and exits 1.
 */
export class ClusterStartError extends Error {
  override readonly name = 'ClusterStartError';
}
