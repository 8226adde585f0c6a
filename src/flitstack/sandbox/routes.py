"""The route table: every Pipedrive path the sandbox answers, and its handler."""

from __future__ import annotations

from starlette.routing import Route

from flitstack.sandbox import fields, pipelines, v1
from flitstack.sandbox.endpoints import wrap
from flitstack.sandbox.entities import entity_routes, field_routes


def build_routes() -> list[Route]:
    routes: list[Route] = []
    for kind in ("persons", "organizations", "deals", "activities"):
        routes += entity_routes(kind)
    for kind in ("personFields", "organizationFields", "dealFields", "activityFields"):
        routes += field_routes(kind)
        routes.append(Route(f"/api/v1/{kind}", wrap(v1.field_list(kind)), methods=["GET"]))
    for kind in fields.EDITABLE_FIELD_KINDS:  # beside field_routes' GET and DELETE of a field
        routes += [
            Route(f"/api/v2/{kind}/{{code}}", wrap(fields.update_field(kind)), methods=["PATCH"]),
            Route(f"/api/v2/{kind}/{{code}}/options", wrap(fields.field_options(kind)),
                  methods=["POST", "PATCH", "DELETE"]),
        ]  # fmt: skip
    routes += [
        Route("/api/v2/pipelines", wrap(pipelines.pipelines), methods=["GET", "POST"]),
        Route("/api/v2/pipelines/{id}", wrap(pipelines.one_of("pipelines", "Pipeline")),
              methods=["GET", "PATCH", "DELETE"]),
        Route("/api/v2/stages", wrap(pipelines.stages), methods=["GET", "POST"]),
        Route("/api/v2/stages/{id}", wrap(pipelines.one_of("stages", "Stage")),
              methods=["GET", "PATCH", "DELETE"]),
        Route("/api/v1/users", wrap(v1.users), methods=["GET"]),
        Route("/api/v1/users/me", wrap(v1.users_me), methods=["GET"]),
        Route("/api/v1/users/find", wrap(v1.users_find), methods=["GET"]),
        Route("/api/v1/users/{id}", wrap(v1.user_one), methods=["GET"]),
        Route("/api/v1/activityTypes", wrap(v1.activity_types), methods=["GET"]),
        Route("/api/v1/notes", wrap(v1.notes), methods=["GET", "POST"]),
        Route("/api/v1/notes/{id}", wrap(v1.note_one), methods=["GET", "PUT", "DELETE"]),
        Route("/api/v1/files", wrap(v1.files), methods=["GET", "POST"]),
        Route("/api/v1/persons/{id}/files", wrap(v1.person_files), methods=["GET"]),
        Route("/api/v1/files/{id}", wrap(v1.file_one), methods=["GET", "PUT", "DELETE"]),
        Route("/api/v1/files/{id}/download", wrap(v1.file_download), methods=["GET"]),
    ]  # fmt: skip
    return routes
