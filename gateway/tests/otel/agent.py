"""An instrumented agent, as any framework's OpenTelemetry GenAI spans make
one: a planner that chats, calls a tool which runs a researcher sub-agent,
and chats again. It exports with the official SDK's OTLP/HTTP exporter,
configured only by the standard OTEL_* environment variables.

    agent.py done        the whole run, then exit
    agent.py error       the planner fails ("quota exceeded")
    agent.py stepwise    one chat span is exported while the planner still
                         works; the planner ends when a line arrives on stdin

It prints the trace id (32 hex digits) first.
"""

import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode


def chat(tracer, agent, model, tokens_in, tokens_out):
    with tracer.start_as_current_span(f"chat {model}") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.agent.name", agent)
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", tokens_out)


def researcher(tracer):
    with tracer.start_as_current_span("invoke_agent researcher") as span:
        span.set_attribute("gen_ai.operation.name", "invoke_agent")
        span.set_attribute("gen_ai.agent.name", "researcher")
        span.set_attribute("gen_ai.agent.id", "researcher-7")
        chat(tracer, "researcher", "gpt-4o-mini", 800, 200)


def main(mode):
    provider = TracerProvider(resource=Resource.create({"service.name": "trip-service"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("esprit-hub-otel-test")
    with tracer.start_as_current_span("invoke_agent planner") as planner:
        planner.set_attribute("gen_ai.operation.name", "invoke_agent")
        planner.set_attribute("gen_ai.agent.name", "planner")
        print(format(planner.get_span_context().trace_id, "032x"), flush=True)
        chat(tracer, "planner", "gpt-4o-mini", 1200, 340)
        if mode == "stepwise":
            provider.force_flush()
            print("flushed", flush=True)
            sys.stdin.readline()
        with tracer.start_as_current_span("execute_tool web_search") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "web_search")
            researcher(tracer)
        chat(tracer, "planner", "gpt-4o-mini", 500, 120)
        if mode == "error":
            planner.set_status(Status(StatusCode.ERROR, "quota exceeded"))
    provider.force_flush()
    provider.shutdown()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "done")
