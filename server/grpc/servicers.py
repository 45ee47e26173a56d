"""Thin gRPC servicers: convert, call the data plane, convert back. Every method is wrapped by
``grpc_errors``, the one place errors become status codes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2 as tx
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc as tx_grpc
from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server.dataplane import DataPlane
from server.errors import ShuttingDown, grpc_errors, status_of
from server.grpc import converters
from server.validate import load_parameters, repository_name, unload_parameters
from taxonomy.axes import ALIASES, AXES, DEFINITIONS
from taxonomy.query import CardEntry


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    @grpc_errors
    async def ServerLive(self, request: Any, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.plane.live())

    @grpc_errors
    async def ServerReady(self, request: Any, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.plane.ready())

    @grpc_errors
    async def ModelReady(self, request: Any, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.plane.model_ready(request.name, request.version))

    @grpc_errors
    async def ServerMetadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:
        return converters.server_metadata(self.plane.server_metadata())

    @grpc_errors
    async def ModelMetadata(self, request: Any, context: Any) -> pb.ModelMetadataResponse:
        return converters.model_metadata(self.plane.model_metadata(request.name, request.version))

    @grpc_errors
    async def ModelConfig(self, request: Any, context: Any) -> pb.ModelConfigResponse:
        return pb.ModelConfigResponse(config=self.plane.model_config(request.name, request.version))

    @grpc_errors
    async def ModelStatistics(self, request: Any, context: Any) -> pb.ModelStatisticsResponse:
        return converters.statistics(self.plane.statistics(request.name, request.version))

    @grpc_errors
    async def RepositoryIndex(self, request: Any, context: Any) -> pb.RepositoryIndexResponse:
        return converters.repository_index(
            self.plane.repository_index(request.ready, request.repository_name)
        )

    @grpc_errors
    async def RepositoryModelLoad(
        self, request: Any, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        repository_name(request.repository_name)
        load_parameters(converters.parameters(request.parameters))
        await self.plane.load(request.model_name)
        return pb.RepositoryModelLoadResponse()

    @grpc_errors
    async def RepositoryModelUnload(
        self, request: Any, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        repository_name(request.repository_name)
        unload_parameters(converters.parameters(request.parameters))
        await self.plane.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    @grpc_errors
    async def ModelInfer(self, request: Any, context: Any) -> pb.ModelInferResponse:
        if self.plane.stopping:
            raise ShuttingDown("server is shutting down; not accepting new requests")
        response = await self.plane.infer(converters.infer_request(request), _deadline(context))
        return converters.infer_response(response)

    @grpc_errors
    async def ModelStreamInfer(
        self, request_iterator: Any, context: Any
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Triton's form: a failed request yields its error on the stream; the stream goes on."""
        async for request in request_iterator:
            try:
                response = await self.plane.infer(
                    converters.infer_request(request), _deadline(context)
                )
            except Exception as error:  # noqa: BLE001 - reported on the stream
                _code, message = status_of(error)
                yield pb.ModelStreamInferResponse(error_message=message)
                continue
            yield pb.ModelStreamInferResponse(infer_response=converters.infer_response(response))


def _summary(entry: CardEntry, ready: bool) -> tx.ModelSummary:
    card = entry.card
    message = tx.ModelSummary(
        name=entry.name,
        title=card.title if card else "",
        task=card.task if card else "",
        dataset=card.dataset if card else "",
        status=entry.status,
        ready=ready,
        error=entry.error or "",
    )
    if card is not None:
        for axis, values in card.tags.model_dump(mode="json").items():
            message.tags[axis].values.extend(values)
    return message


def _filters(filters: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in filters:
        out.setdefault(f.axis, []).extend(f.values)
    return out


class TaxonomyServicer(tx_grpc.TaxonomyServiceServicer):
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    @grpc_errors
    async def ListAxes(self, request: Any, context: Any) -> tx.ListAxesResponse:
        message = tx.ListAxesResponse()
        for axis, enum in AXES.items():
            a = message.axes.add(name=axis)
            aliases = ALIASES.get(axis, {})
            for value in enum:
                d = DEFINITIONS[value]
                a.values.add(
                    value=value.value,
                    definition=d.text,
                    source=d.source,
                    aliases=[k for k, v in aliases.items() if v == value.value],
                )
        return message

    @grpc_errors
    async def ListModels(self, request: Any, context: Any) -> tx.ListModelsResponse:
        found = self.plane.list_models(_filters(request.all_of), _filters(request.any_of))
        return tx.ListModelsResponse(
            models=[_summary(e, self.plane.serving(e.name)) for e in found]
        )

    @grpc_errors
    async def GetCard(self, request: Any, context: Any) -> tx.GetCardResponse:
        entry = self.plane.card(request.name)
        return tx.GetCardResponse(
            summary=_summary(entry, self.plane.serving(entry.name)),
            card_json=entry.card.to_json() if entry.card else "",
        )

    @grpc_errors
    async def Coverage(self, request: Any, context: Any) -> tx.CoverageResponse:
        cover = self.plane.coverage()
        axes = list(request.axes) or list(cover.matrix)
        unknown = [a for a in axes if a not in cover.matrix]
        if unknown:
            from server.errors import InvalidInput

            raise InvalidInput(f"unknown axis {unknown[0]!r}; valid axes: {', '.join(AXES)}")
        message = tx.CoverageResponse(models=cover.models, untagged=cover.untagged)
        for axis in axes:
            for value, names in cover.matrix[axis].items():
                message.rows.add(axis=axis, value=value, models=names)
        return message
