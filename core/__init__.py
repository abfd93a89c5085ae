"""What every app's web layer shares, owned by none of them (docs/architecture.md, "Where things live").

Request parameters and HAL links (`core.params`), serializers that refuse unknown fields
(`core.strict`), times as the API writes them (`core.times`), the OpenAPI pieces every list
declares (`core.docs`), the permission classes and the views that use them (`core.permissions`,
`core.api`), the one conflict exception (`core.errors`), the dashboard's view decorator and page
context (`core.dashboard`), and the base of every management command (`core.commands`). It may use
`jobs`' models, access and selectors (teams and roles live there), never a view, an API module or
`history`.
"""
