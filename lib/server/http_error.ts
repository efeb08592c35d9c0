/** An error that becomes an HTTP answer: status + a message meant for the client (never a stack trace). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The request field the error is about, when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}
