"""What every app's web layer shares, owned by none of them (docs/architecture.md, "Where things live").

Request parameters and HAL links (`core.params`), times as the API writes them (`core.times`), the
OpenAPI pieces every list declares (`core.docs`), the permission classes (`core.permissions`), the
dashboard's view decorator and page context (`core.dashboard`), and the base of every management
command (`core.commands`). It may use `jobs`' models and access (teams and roles live there), never a
view, an API module or `history`.
"""
