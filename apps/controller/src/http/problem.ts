/**
 * RFC 7807 problem details. Everything a client sees as an error goes through
 * ProblemFilter and comes out as application/problem+json, never a stack trace.
 */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly type = `https://cordon.dev/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
  ) {
    super(detail ?? title);
  }
}

export const badRequest = (detail: string, extra?: Record<string, unknown>) => new Problem(400, 'Bad Request', detail, extra);
export const notFound = (detail: string) => new Problem(404, 'Not Found', detail);
