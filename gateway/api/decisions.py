"""Policy administration: `POST /decisions/$evaluate` and `GET /policies` (DESIGN.md 7, 11).

`$evaluate` is the one place a decision input comes from a request body, so it is for admins
only, decides nothing about real data and releases nothing; `GET /policies` shows what decides.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query
from starlette.concurrency import run_in_threadpool

from gateway.deps import CallerDep, ServicesDep
from policies.vocabulary import Role

router = APIRouter(tags=["policies"])


@router.post(
    "/decisions/$evaluate",
    summary="Evaluate a decision input against the loaded policies (admins)",
    responses={403: {"description": "the caller is not an admin"}},
)
async def evaluate(
    services: ServicesDep,
    caller: CallerDep,
    decision_input: Annotated[dict[str, Any], Body(description="A decision input (DESIGN.md 7)")],
    explain: Annotated[str | None, Query(description="`full` lists the rules that fired")] = None,
) -> dict[str, Any]:
    if caller.role is not Role.ADMIN:
        raise HTTPException(status_code=403, detail="only admins may evaluate decision inputs")
    engine = services.policy.engine
    if explain == "full":
        decision = await run_in_threadpool(engine.explain, decision_input)
    else:
        decision = await run_in_threadpool(engine.decide, decision_input)
    return decision.as_json()


@router.get("/policies", summary="The policy version, its modules and the rules decisions may name")
def policies(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    engine = services.policy.engine
    return {
        "policy_version": engine.version,
        "adapter": "opa" if services.settings.opa_url else "in_process",
        "modules": [
            {"name": m.name, "package": m.package, "overlay": m.overlay} for m in engine.bundle.modules
        ],
        "rules": [rule.as_json() for rule in engine.catalog.rules],
        "obligations": sorted(engine.catalog.obligations),
    }
