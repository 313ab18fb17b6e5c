from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import kinds as K
from ..loading import LIST, LOADED_ON_QUERY, OBJECT, Loaded, TracksLoads
from ..models import Model
from ..rule import Rule
from ..schemas import Schema, nested_schema, schema
from .sqa401_lazy_load_in_async import _MODELS

_SCHEMAS = """\
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict

app = FastAPI()

class AddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int

class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    addresses: list[AddressOut] = []

class UserBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int

class AddressWithUser(AddressOut):
    user: UserOut

async def get_db():
    yield AsyncSession()
"""

_WRAPPERS = frozenset({"list", "List", "Sequence", "Optional", "Iterable"})


class LazyLoadInResponse(TracksLoads, Rule):
    code = "SQA402"
    name = "lazy-load-in-response"
    message = "the response model reads a lazy relationship while serializing: MissingGreenlet"
    explain = """\
What it does: flags an async route that returns an ORM object (or a list of them) it loaded itself
without an eager option, through a `response_model` (the decorator's `response_model=` or the
return annotation) whose fields, or nested schemas' fields, name a lazy "select" relationship.

Why it breaks: FastAPI serializes the returned object after the handler returns, reading each field
from the object's attributes; reading an unloaded lazy relationship runs SQL synchronously:
    sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here. Was IO attempted in an unexpected place?
(FastAPI reports it as a 500 while validating the response.)

Instead: load what the schema needs with the query:
`select(User).options(selectinload(User.addresses))`, `session.get(User, id,
options=[selectinload(User.addresses)])`, or configure the relationship with `lazy="selectin"`;
or use a response schema without the relationship field.
"""
    valid = (
        _MODELS + _SCHEMAS + """
@app.get("/users/{user_id}", response_model=UserOut)
async def read_user(user_id: int, session: AsyncSession = Depends(get_db)):
    return await session.get(User, user_id, options=[selectinload(User.addresses)])
""",
        _MODELS + _SCHEMAS + """
@app.get("/users", response_model=list[UserBrief])
async def list_users(session: AsyncSession = Depends(get_db)):
    result = await session.execute(select(User))
    return result.scalars().all()  # the schema has no relationship field
""",
        _MODELS + _SCHEMAS + """
@app.get("/addresses")
async def list_addresses(session: AsyncSession = Depends(get_db)) -> list[AddressWithUser]:
    stmt = select(Address).options(joinedload(Address.user).selectinload(User.addresses))
    return (await session.scalars(stmt)).all()
""",
        _MODELS + _SCHEMAS + """
@app.get("/users/{user_id}", response_model=UserOut)
def read_user_sync(user_id: int, session=Depends(get_db)):
    return session.get(User, user_id)  # a sync route: lazy loading works in the thread pool
""",
    )
    invalid = (
        _MODELS + _SCHEMAS + """
@app.get("/users/{user_id}", response_model=UserOut)
async def read_user(user_id: int, session: AsyncSession = Depends(get_db)):
    user = await session.get(User, user_id)
    return user  # error: SQA402
""",
        _MODELS + _SCHEMAS + """
@app.get("/users", response_model=list[UserOut])
async def list_users(session: AsyncSession = Depends(get_db)):
    result = await session.execute(select(User).order_by(User.id))
    return result.scalars().all()  # error: SQA402
""",
        _MODELS + _SCHEMAS + """
@app.get("/addresses/{address_id}")
async def read_address(address_id: int, session: AsyncSession = Depends(get_db)) -> AddressWithUser:
    stmt = select(Address).where(Address.id == address_id).options(selectinload(Address.user))
    return await session.scalar(stmt)  # error: SQA402
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self.responses: dict[int, Optional[Schema]] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is None or not node.decorators:
            return
        expr = self._response_expr(node)
        if expr is not None:
            found = schema(self.tracker.models, self.ctx.value(_unwrap(expr)))
            if found is not None:
                self.responses[id(node)] = found

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        super().leave_FunctionDef(node)
        self.responses.pop(id(node), None)

    def visit_Return(self, node: cst.Return) -> None:
        function = self.ctx.function
        if node.value is None or function is None or id(function.node) not in self.responses:
            return
        loaded = self.tracker.evaluate(node.value)
        if loaded is None or loaded.shape not in (OBJECT, LIST):
            return
        problem = self._lazy_field(self.responses[id(function.node)], loaded.model, loaded, 0, set())
        if problem is not None:
            model, rel, schema_name = problem
            top = self.responses[id(function.node)].name
            via = f" (through `{schema_name}`)" if schema_name != top else ""
            self.report(node, f"the response model `{top}`{via} reads `{model}.{rel}`, a lazy relationship "
                              f"the route did not load ({loaded.origin}): serialization raises MissingGreenlet; "
                              f"add `selectinload({model}.{rel})` to the query")

    def _response_expr(self, node: cst.FunctionDef) -> Optional[cst.BaseExpression]:
        route = False
        for decorator in node.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call):
                continue
            if not K.is_route_decorator(self.ctx.kind(call.func)):
                continue
            route = True
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == "response_model":
                    return arg.value
        if route and node.returns is not None:
            return node.returns.annotation
        return None

    def _lazy_field(self, out: Schema, model: Model, loaded: Loaded, depth: int,
                    seen: set) -> Optional[tuple[str, str, str]]:
        if depth > 4 or (out.key, model.key) in seen:
            return None
        seen.add((out.key, model.key))
        for name, annotation in out.fields.items():
            rel = model.relationships.get(name)
            if rel is None:
                continue
            if rel.lazy_select and not loaded.is_eager(model, name):
                return model.name, name, out.name
            if not (rel.lazy in LOADED_ON_QUERY or rel.lazy_select):
                continue  # raise/noload/dynamic/unknown: not this rule's business
            inner = nested_schema(self.tracker.models, annotation)
            target = self.tracker.models.target(rel, model)
            if inner is not None and target is not None:
                found = self._lazy_field(inner, target, loaded, depth + 1, seen)
                if found is not None:
                    return found
        return None


def _unwrap(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`list[UserOut]`, `Optional[UserOut]`, `UserOut | None` -> `UserOut` (syntactically: builtin
    generics have no symbolic value)."""
    for _ in range(4):
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            name = expr.value.attr.value if isinstance(expr.value, cst.Attribute) else \
                expr.value.value if isinstance(expr.value, cst.Name) else None
            if name not in _WRAPPERS:
                return expr
            expr = expr.slice[0].slice.value
        elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            if isinstance(expr.right, cst.Name) and expr.right.value == "None":
                expr = expr.left
            elif isinstance(expr.left, cst.Name) and expr.left.value == "None":
                expr = expr.right
            else:
                return expr
        else:
            return expr
    return expr
