package ai.lserve.engine.runtime;

/** Why a generation ended, named as OpenAI-style APIs and vLLM name it. */
public enum FinishReason {
  /** An end-of-sequence token or a stop string. */
  STOP("stop"),
  /** The max-new-tokens limit or the model's context length. */
  LENGTH("length"),
  /** Cancelled before it finished. */
  ABORT("abort");

  private final String wire;

  FinishReason(String wire) {
    this.wire = wire;
  }

  /** The lower-case name used in JSON and Spark output. */
  public String wire() {
    return wire;
  }
}
