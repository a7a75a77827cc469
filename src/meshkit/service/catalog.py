"""Built-in plugin: the catalog's contribution to the control service, its REST endpoints and web pages.

``/api/v1/catalog/...`` answers JSON (search, datasets, lineage as JSON or SVG, products);
``/ui/catalog`` pages list, search and show datasets with their lineage graph. Every route needs
an authenticated caller. FastAPI is imported only when the service builds its app.
"""

from meshkit.core.hookspecs import hookimpl


def build_routers(meshkit) -> list:
    """The API router and the UI router."""
    from typing import Annotated

    from fastapi import APIRouter, Depends, Query, Request
    from fastapi.responses import HTMLResponse, Response

    from meshkit.catalog.catalog import Catalog
    from meshkit.catalog.svg import legend, render_svg
    from meshkit.core.errors import UserError
    from meshkit.service.auth import Principal, principal_of
    from meshkit.service.exceptions import NotFoundError
    from meshkit.service.routes import API, ERRORS
    from meshkit.service.ui import views

    caller = [Depends(principal_of)]
    api = APIRouter(prefix=f"{API}/catalog", responses=ERRORS, tags=["catalog"], dependencies=caller)
    ui = APIRouter(prefix="/ui/catalog", include_in_schema=False)
    templates = views.templates
    catalog = Catalog(meshkit)

    def find(name: str):
        try:
            return catalog.find(name)
        except UserError as exc:
            raise NotFoundError(exc.message, hint=exc.hint) from None

    @api.get("/search", summary="Search datasets and products by name, description, column or tag")
    def search(q: Annotated[str, Query(min_length=1, description="Words that must all match")]):
        return [hit.__dict__ for hit in catalog.search(q)]

    @api.get("/datasets", summary="All catalog datasets")
    def datasets():
        return [d.as_dict() for d in catalog.datasets()]

    @api.get("/datasets/{name:path}", summary="One dataset with its quality results and neighbours")
    def dataset(name: str):
        found = find(name)
        graph = catalog.lineage(found.id, depth=1)
        quality = [{**q, "at": q["at"].isoformat()} for q in catalog.quality(found.id)]
        return {
            **found.as_dict(),
            "classified": found.classified,
            "upstream": graph.upstream(),
            "downstream": graph.downstream(),
            "quality": quality,
        }

    @api.get("/lineage/{name:path}", summary="Lineage graph (JSON, or SVG with format=svg)")
    def lineage(name: str, depth: int = 10, format: str = "json"):
        graph = catalog.lineage(name if "/" in name else find(name).id, depth=depth)
        if format == "svg":
            return Response(render_svg(graph), media_type="image/svg+xml")
        return {"focus": graph.focus, "nodes": graph.nodes, "edges": [e.__dict__ for e in graph.edges]}

    @api.get("/products", summary="Published products")
    def products():
        return [{k: v for k, v in p.items() if k != "spec"} for p in catalog.products()]

    @api.get("/products/{name}", summary="A published product: its descriptor and versions")
    def product(name: str):
        found = catalog.product(name)
        if found is None:
            raise NotFoundError(
                f"No published product `{name}`.", hint="Publish it with `meshkit product publish`."
            )
        versions = [{"version": v["version"], "published_at": v["published_at"], "changes": v["changes"]}
                    for v in catalog.product_versions(name)]  # fmt: skip
        return {**found, "versions": versions}

    def page(request: Request, template: str, **context) -> HTMLResponse:
        nav = request.app.state.ui_pages
        principal = getattr(request.state, "principal", None)
        return templates.TemplateResponse(request, template, {"principal": principal, "nav": nav, **context})

    @ui.get("", response_class=HTMLResponse)
    def index(request: Request, principal: Annotated[Principal, Depends(principal_of)], q: str = ""):
        hits = catalog.search(q) if q.strip() else None
        return page(
            request, "catalog.html", q=q, hits=hits, datasets=catalog.datasets(), products=catalog.products()
        )

    @ui.get("/lineage", response_class=HTMLResponse)
    def mesh_page(request: Request, principal: Annotated[Principal, Depends(principal_of)]):
        graph = catalog.mesh()
        svg = (
            render_svg(graph, link="/ui/catalog/datasets/{}", domains=catalog.domains())
            if graph.nodes
            else ""
        )
        return page(request, "lineage.html", graph=graph, svg=svg, legend=legend())

    @ui.get("/products/{name}", response_class=HTMLResponse)
    def product_page(request: Request, name: str, principal: Annotated[Principal, Depends(principal_of)]):
        found = catalog.product(name)
        if found is None:
            raise NotFoundError(
                f"No published product `{name}`.", hint="Publish it with `meshkit product publish`."
            )
        spec = found["spec"]
        ports = [p for p in spec.get("outputPorts") or [] if p.get("dataset")]
        quality = {p["dataset"]: catalog.quality(p["dataset"], limit=30) for p in ports}
        consumers = sorted({d for p in ports for d in catalog.lineage(p["dataset"], depth=1).downstream()})
        used_by = sorted(other["name"] for other in catalog.products() if other["name"] != name and any(
            i.get("product") == name or i.get("dataset") in {p["dataset"] for p in ports}
            for i in other["spec"].get("inputPorts") or []))  # fmt: skip
        return page(request, "product.html", product=found, spec=spec, ports=ports, quality=quality,
                    consumers=consumers, used_by=used_by, versions=catalog.product_versions(name))  # fmt: skip

    @ui.get("/datasets/{name:path}", response_class=HTMLResponse)
    def dataset_page(request: Request, name: str, principal: Annotated[Principal, Depends(principal_of)]):
        found = catalog.get(name)
        graph = catalog.lineage(found.id if found else name)
        if found is None and len(graph.nodes) == 1:  # neither in the catalog nor in anyone's lineage
            found = find(name)
            graph = catalog.lineage(found.id)
        svg = render_svg(graph, link="/ui/catalog/datasets/{}", domains=catalog.domains())
        quality = catalog.quality(found.id) if found else []
        profile = catalog.profile(found.id) if found else None
        return page(request, "dataset.html", name=name, dataset=found, graph=graph, svg=svg, legend=legend(),
                    quality=quality, profile=profile, columns=_column_edges(graph, graph.focus))  # fmt: skip

    return [api, ui]


def _column_edges(graph, name: str) -> list:
    """Column-level edges into and out of ``name``, for its page."""
    return [e for e in graph.edges if e.source_column and name in (e.source, e.target)]


@hookimpl(optionalhook=True)
def register_routes(meshkit):
    return build_routers(meshkit)


@hookimpl(optionalhook=True)
def register_ui_pages(meshkit):
    return [("Catalog", "/ui/catalog"), ("Lineage", "/ui/catalog/lineage")]
