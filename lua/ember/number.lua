-- ember.number: `ember.number{0.01, min = 0}`, a config default that takes a number within bounds
-- (ember.config.decl, where it is made and documented).
return require("ember.config.decl").number
