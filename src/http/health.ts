/** Liveness and readiness state shared by the probes and the shutdown sequence. */
export class HealthState {
  private shuttingDown = false;
  private readonly readinessChecks: Array<() => string | undefined> = [];

  /** A check returns a reason when the service is not ready (e.g. rules not loaded). */
  addReadinessCheck(check: () => string | undefined): void {
    this.readinessChecks.push(check);
  }

  beginShutdown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  notReadyReason(): string | undefined {
    if (this.shuttingDown) return 'shutting down';
    for (const check of this.readinessChecks) {
      const reason = check();
      if (reason) return reason;
    }
    return undefined;
  }
}
